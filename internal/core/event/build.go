package event

// Spec: https://spec.matrix.org/v1.19/server-server-api/#adding-hashes-and-signatures-to-outgoing-events
// and the event format of each room version, https://spec.matrix.org/v1.19/rooms/

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// Proto holds the fields of a new event. Choosing AuthEvents from the
// current state is the job of core/authrules (NeededStateKeys); Build takes
// them as given.
type Proto struct {
	// Type is the event type.
	Type string
	// StateKey is the state key of a state event, nil for other events.
	StateKey *string
	// Sender is the sending user, who must belong to the signing server.
	Sender id.UserID
	// RoomID is the room. It must be empty for a create event of a room
	// version whose room ID derives from the create event (v12+).
	RoomID id.RoomID
	// Content is the content object; nil means {}.
	Content json.RawMessage
	// PrevEvents are the events the new one follows in the DAG.
	PrevEvents []id.EventID
	// AuthEvents are the events that authorise the new one.
	AuthEvents []id.EventID
	// Depth is the event's depth.
	Depth int64
	// OriginServerTS is the creation time in milliseconds since the epoch.
	OriginServerTS int64
	// Redacts is the event an m.room.redaction redacts. From v11 on it goes
	// into content.redacts (where it may already be).
	Redacts id.EventID
	// Unsigned is optional unsigned data (a JSON object), covered by neither
	// hash nor signature.
	Unsigned json.RawMessage

	// EventID is the event ID of a room v1/v2 event, "$opaque:server",
	// chosen by the sending server (see NewLegacyEventID). It must be empty
	// in v3+, where the ID is the reference hash.
	EventID id.EventID
	// RefHashes holds the reference hashes (see ReferenceHash) of every
	// event in PrevEvents and AuthEvents, for rooms v1 and v2, whose PDUs
	// list [event ID, {"sha256": hash}] pairs. Later versions ignore it.
	RefHashes map[id.EventID][]byte
}

// legacyIDLetters are the characters of the opaque part of v1/v2 event IDs.
const legacyIDLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewLegacyEventID makes a room v1/v2 event ID, "$" + 18 random letters +
// ":" + server, with randomness from rand (crypto/rand.Reader in
// production).
//
// Spec: https://spec.matrix.org/v1.19/rooms/v1/#event-ids
func NewLegacyEventID(rand io.Reader, server id.ServerName) (id.EventID, error) {
	if _, err := id.ParseServerName(string(server)); err != nil {
		return "", fmt.Errorf("new event ID: %w", err)
	}
	var b [18]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("new event ID: %w", err)
	}
	for i := range b {
		b[i] = legacyIDLetters[int(b[i])%len(legacyIDLetters)]
	}
	return id.EventID("$" + string(b[:]) + ":" + string(server)), nil
}

// Build makes the signed event p in room version v: it lays the fields out
// in the version's format, computes the content hash, signs the redacted
// event with key and parses the result with Parse, so that the returned
// PDU has its event ID (and, for a v12 create event, its room ID) and
// passes every format check a receiving server makes.
func Build(p Proto, v *roomversion.Version, key signing.Key) (*PDU, error) {
	if v == nil {
		return nil, fmt.Errorf("build event: %w: no room version", ErrBuild)
	}
	o := object{}
	var err error
	put := func(k string, val any) {
		if err != nil {
			return
		}
		o[k], err = json.Marshal(val)
	}
	put("type", p.Type)
	if p.StateKey != nil {
		put("state_key", *p.StateKey)
	}
	put("sender", p.Sender)
	put("depth", p.Depth)
	put("origin_server_ts", p.OriginServerTS)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}

	// room_id: none on a v12 create event.
	if v.RoomIDFromCreateEvent && p.Type == typeCreate {
		if p.RoomID != "" {
			return nil, fmt.Errorf("build event: %w: a create event of room version %s has no room_id", ErrBuild, v.ID)
		}
	} else {
		if p.RoomID == "" {
			return nil, fmt.Errorf("build event: %w: no room ID", ErrBuild)
		}
		put("room_id", p.RoomID)
	}

	// content, with redacts in it from v11 on.
	content, err := buildContent(p, v)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	o["content"] = content
	if p.Redacts != "" && !v.RedactsInContent {
		put("redacts", p.Redacts)
	}

	// event_id, prev_events, auth_events.
	if v.EventIDInEvent {
		if p.EventID == "" {
			return nil, fmt.Errorf("build event: %w: room version %s needs an event ID", ErrBuild, v.ID)
		}
		put("event_id", p.EventID)
	} else if p.EventID != "" {
		return nil, fmt.Errorf("build event: %w: room version %s derives the event ID", ErrBuild, v.ID)
	}
	for _, f := range []struct {
		key string
		ids []id.EventID
	}{{"prev_events", p.PrevEvents}, {"auth_events", p.AuthEvents}} {
		refs, rerr := buildRefs(f.ids, p.RefHashes, v)
		if rerr != nil {
			return nil, fmt.Errorf("build event: %s: %w", f.key, rerr)
		}
		o[f.key] = refs
	}

	if p.Unsigned != nil {
		if jsonKind(trimSpace(p.Unsigned)) != '{' {
			return nil, fmt.Errorf("build event: %w: unsigned is not an object", ErrBuild)
		}
		o["unsigned"] = p.Unsigned
	}
	put("hashes", map[string]string{})
	put("signatures", map[string]any{})
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}

	unsignedRaw, err := encode(map[string]json.RawMessage(o), v)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	signed, err := Sign(unsignedRaw, v, key)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	e, err := Parse(signed, v)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return e, nil
}

// buildContent returns the content object of p, adding redacts in rooms
// v11+.
func buildContent(p Proto, v *roomversion.Version) (json.RawMessage, error) {
	content := p.Content
	if content == nil {
		content = json.RawMessage(`{}`)
	}
	if jsonKind(trimSpace(content)) != '{' {
		return nil, fmt.Errorf("%w: content is not an object", ErrBuild)
	}
	if p.Redacts == "" || !v.RedactsInContent {
		return content, nil
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, fmt.Errorf("%w: content: %w", ErrBuild, err)
	}
	if have, ok := stringIn(content, "redacts"); ok {
		if have != string(p.Redacts) {
			return nil, fmt.Errorf("%w: content.redacts %.80q differs from Redacts %.80q", ErrBuild, have, p.Redacts)
		}
		return content, nil
	}
	if _, ok := c["redacts"]; ok {
		return nil, fmt.Errorf("%w: content.redacts is not a string", ErrBuild)
	}
	c["redacts"] = jsonString(string(p.Redacts))
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: content: %w", ErrBuild, err)
	}
	return b, nil
}

// buildRefs lays out prev_events or auth_events: a list of event IDs in v3+,
// a list of [event ID, {"sha256": reference hash}] pairs in v1 and v2.
func buildRefs(ids []id.EventID, hashes map[id.EventID][]byte, v *roomversion.Version) (json.RawMessage, error) {
	if !v.EventIDInEvent {
		if ids == nil {
			ids = []id.EventID{}
		}
		return json.Marshal(ids)
	}
	pairs := make([][2]any, 0, len(ids))
	for _, eid := range ids {
		h, ok := hashes[eid]
		if !ok {
			return nil, fmt.Errorf("%w: no reference hash for %s", ErrBuild, eid)
		}
		pairs = append(pairs, [2]any{eid, map[string]string{"sha256": signing.EncodeBase64(h)}})
	}
	return json.Marshal(pairs)
}

// trimSpace drops leading JSON whitespace.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
