package clientsync

// The tokens a client holds: sync tokens (since, next_batch) and the
// pagination tokens of /messages, /context and sync's prev_batch. Clients
// store them across restarts and upgrades, so every form this file has ever
// written must keep parsing.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#syncing (tokens
// are opaque to clients).

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadToken means a token is not one this server issued.
var ErrBadToken = errors.New("invalid token")

// Sync tokens.
//
// A sync token is "s" followed by one position per stream, in the fixed
// order of SyncToken's fields, separated by "_": "s<events>_<account
// data>_<receipts>_<typing>_<to-device>_<device lists>_<presence>".
// Trailing streams at position 0 are left out, so a token names only the
// streams that have moved ("s42" while only events have positions).
//
// The encoding evolves without breaking stored tokens:
//   - A new stream is appended at the end of the order, never inserted, so
//     a token written before the stream existed parses with it at 0.
//   - Positions beyond the streams this version knows (a token of a newer
//     version, after a downgrade) are ignored, up to maxTokenStreams.
//   - An incompatible change takes a new prefix letter instead of "s"; the
//     parser keeps accepting every earlier prefix.

// maxTokenStreams bounds the positions a token may carry, known or not, so
// a client cannot make the server parse an arbitrarily long token.
const maxTokenStreams = 32

// SyncToken is a point in each of the streams a sync follows: the client
// has seen everything up to and including each position. Only Events has
// positions today; the other streams are read and written so that the work
// that gives them positions does not change the token's form.
type SyncToken struct {
	// Events is the position in the stream of room events.
	Events int64
	// AccountData is the position in the stream of account data changes.
	AccountData int64
	// Receipts is the position in the stream of read receipts.
	Receipts int64
	// Typing is the position in the stream of typing notifications.
	Typing int64
	// ToDevice is the position in the stream of to-device messages.
	ToDevice int64
	// DeviceLists is the position in the stream of device list changes.
	DeviceLists int64
	// Presence is the position in the stream of presence updates.
	Presence int64
}

// streams returns pointers to t's positions in their token order, the
// one place that order is written. New streams go at the end.
func (t *SyncToken) streams() [7]*int64 {
	return [7]*int64{&t.Events, &t.AccountData, &t.Receipts, &t.Typing, &t.ToDevice, &t.DeviceLists, &t.Presence}
}

// String encodes the token. Negative positions are written as 0.
func (t SyncToken) String() string {
	ps := t.streams()
	n := len(ps)
	for n > 1 && *ps[n-1] <= 0 {
		n--
	}
	var buf [len(ps) * 20]byte // "s" and up to 19 digits per stream, separated by "_"
	b := append(buf[:0], 's')
	for i, p := range ps[:n] {
		if i > 0 {
			b = append(b, '_')
		}
		b = strconv.AppendInt(b, max(*p, 0), 10)
	}
	return string(b)
}

// ParseSyncToken decodes a sync token: any token String has ever written,
// and tokens of later versions that only add streams. Anything else is an
// error wrapping ErrBadToken.
func ParseSyncToken(tok string) (SyncToken, error) {
	var t SyncToken
	if len(tok) < 2 || tok[0] != 's' {
		return SyncToken{}, fmt.Errorf("%w: %q", ErrBadToken, tok)
	}
	ps := t.streams()
	rest := tok[1:]
	for i := 0; ; i++ {
		if i == maxTokenStreams {
			return SyncToken{}, fmt.Errorf("%w: %q has more than %d streams", ErrBadToken, tok, maxTokenStreams)
		}
		part, next, more := strings.Cut(rest, "_")
		pos, ok := parsePos(part)
		if !ok {
			return SyncToken{}, fmt.Errorf("%w: %q", ErrBadToken, tok)
		}
		if i < len(ps) {
			*ps[i] = pos
		}
		if !more {
			return t, nil
		}
		rest = next
	}
}

// Token returns the sync token of position pos in the events stream with
// every other stream at 0. It also serves as a stream pagination token:
// sync's prev_batch, read by /messages.
func Token(pos int64) string { return SyncToken{Events: pos}.String() }

// Pagination tokens.
//
// /messages and /context walk a room in topological order, by (depth,
// stream position), so that history which arrives late (backfill, or
// events of other servers that lagged) takes its place by depth instead of
// appearing as new. Their tokens come in two forms:
//   - "t<depth>-<stream>" (topological): the point just after the event
//     with that depth and stream position, in the room's topological order.
//     The stream position is negative for history fetched from other
//     servers ("t5--3").
//     /messages and /context return these.
//   - a sync token (stream): the point just after the events position,
//     taken as the room's topological position at that point of the stream
//     (see store.RoomTopoPosAt). Sync's prev_batch and next_batch are
//     these, and clients may start /messages from either.

// PageToken is a parsed pagination token.
type PageToken struct {
	// Topological reports the "t" form; otherwise the token is a stream
	// token and only Stream is set.
	Topological bool
	// Depth is the depth of the topological form.
	Depth int64
	// Stream is the stream position.
	Stream int64
}

// TopoToken returns the topological pagination token of the point just
// after the event with depth and stream position pos.
func TopoToken(depth, pos int64) string {
	var buf [1 + 2*20]byte
	b := append(buf[:0], 't')
	b = strconv.AppendInt(b, max(depth, 0), 10)
	b = append(b, '-')
	// History fetched from other servers has negative stream positions
	// (see store/streams.go): "t5--3".
	b = strconv.AppendInt(b, pos, 10)
	return string(b)
}

// String encodes the token.
func (t PageToken) String() string {
	if t.Topological {
		return TopoToken(t.Depth, t.Stream)
	}
	return Token(t.Stream)
}

// ParsePageToken decodes a pagination token of either form; anything else
// is an error wrapping ErrBadToken.
func ParsePageToken(tok string) (PageToken, error) {
	if strings.HasPrefix(tok, "t") {
		d, s, ok := strings.Cut(tok[1:], "-")
		depth, okD := parsePos(d)
		neg := strings.HasPrefix(s, "-")
		if neg {
			s = s[1:]
		}
		pos, okS := parsePos(s)
		if neg {
			pos = -pos
		}
		if !ok || !okD || !okS {
			return PageToken{}, fmt.Errorf("%w: %q", ErrBadToken, tok)
		}
		return PageToken{Topological: true, Depth: depth, Stream: pos}, nil
	}
	st, err := ParseSyncToken(tok)
	if err != nil {
		return PageToken{}, err
	}
	return PageToken{Stream: st.Events}, nil
}

// parsePos parses a position: decimal digits only (no sign, no spaces),
// within int64.
func parsePos(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := int64(s[i]) - '0'
		if d < 0 || d > 9 {
			return 0, false
		}
		if n >= math.MaxInt64/10 && (n > math.MaxInt64/10 || d > math.MaxInt64%10) {
			return 0, false // beyond int64
		}
		n = n*10 + d
	}
	return n, true
}
