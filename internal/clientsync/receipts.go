package clientsync

// Spec: Client-Server API § Receipts (m.receipt in /sync)
// https://spec.matrix.org/v1.19/client-server-api/#receipts

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// receiptLogSize is the number of recent receipts sync keeps in memory;
// older tokens read the store.
const receiptLogSize = 4096

// receiptStoreLimit bounds the receipts one sync reads from the store.
const receiptStoreLimit = 10000

// receiptKey names the public receipts of a room in a range of the
// receipt stream.
type receiptKey struct {
	room        id.RoomID
	since, upto int64
}

// maxEncodedBytes bounds the cache of encoded m.receipt events. A busy
// room's event holds a receipt of every member: the cache must not make
// the live heap, and with it the garbage collector's work, grow.
const maxEncodedBytes = 256 << 10

// cachedReceipts returns the encoded m.receipt event of key, if cached.
func (l *receiptLog) cachedReceipts(key receiptKey) (json.RawMessage, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev, ok := l.cache[key]
	return ev, ok
}

// cacheReceipts keeps ev, the encoded m.receipt event of key. Only the
// events of ranges that end at the newest position seen are kept: syncs
// that start later read up to there or further, so older ranges are not
// asked for again.
func (l *receiptLog) cacheReceipts(key receiptKey, ev json.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case key.upto < l.cacheUpto || len(ev) > maxEncodedBytes:
		return
	case key.upto > l.cacheUpto || l.cacheBytes+len(ev) > maxEncodedBytes:
		clear(l.cache)
		l.cacheUpto, l.cacheBytes = key.upto, 0
	}
	if l.cache == nil {
		l.cache = map[receiptKey]json.RawMessage{}
	}
	l.cache[key] = ev
	l.cacheBytes += len(ev)
}

// receiptEvent encodes receipts as one m.receipt event. It writes the
// JSON itself: every sync of a busy room encodes one, and the reflection
// of encoding/json over nested maps cost more than the rest of the sync.
func receiptEvent(rcs []store.Receipt) (json.RawMessage, error) {
	sel := make([]int32, len(rcs))
	for i := range sel {
		sel[i] = int32(i)
	}
	return encodeReceipts(rcs, sel)
}

// encodeReceipts encodes the receipts of rcs that sel selects as one
// m.receipt event, sorting sel.
func encodeReceipts(all []store.Receipt, sel []int32) (json.RawMessage, error) {
	slices.SortStableFunc(sel, func(i, j int32) int {
		a, b := &all[i], &all[j]
		if c := strings.Compare(string(a.EventID), string(b.EventID)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(string(a.UserID), string(b.UserID))
	})
	b := make([]byte, 0, 64+80*len(sel))
	b = append(b, `{"content":{`...)
	var prev *store.Receipt
	for k, i := range sel {
		rc := &all[i]
		if k+1 < len(sel) {
			if next := &all[sel[k+1]]; next.EventID == rc.EventID && next.Type == rc.Type && next.UserID == rc.UserID {
				// The same user twice for one event and type (two
				// threads): one key, the later receipt's.
				continue
			}
		}
		first := prev == nil
		newEvent := first || rc.EventID != prev.EventID
		newType := newEvent || rc.Type != prev.Type
		prev = rc
		switch {
		case newEvent:
			if !first {
				b = append(b, "}},"...)
			}
			b = appendJSONString(b, string(rc.EventID))
			b = append(b, ":{"...)
			b = appendJSONString(b, rc.Type)
			b = append(b, ":{"...)
		case newType:
			b = append(b, "},"...)
			b = appendJSONString(b, rc.Type)
			b = append(b, ":{"...)
		default:
			b = append(b, ',')
		}
		b = appendJSONString(b, string(rc.UserID))
		b = append(b, `:{"ts":`...)
		b = strconv.AppendInt(b, rc.TS, 10)
		if rc.ThreadID != "" {
			b = append(b, `,"thread_id":`...)
			b = appendJSONString(b, rc.ThreadID)
		}
		b = append(b, '}')
	}
	if len(sel) > 0 {
		b = append(b, "}}"...)
	}
	b = append(b, `},"type":"m.receipt"}`...)
	return b, nil
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		// encoding/json escapes <, > and & too (HTML-safe), and
		// U+2028 and U+2029.
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// receiptLog is sync's memory of the receipt stream: the newest receipts,
// so incremental syncs fan them out without reading the store.
type receiptLog struct {
	mu sync.Mutex
	// start is the position after which the log is complete.
	start  int64
	pos    int64
	recent []store.Receipt
	// replaced holds, for each receipt of recent, the position of the
	// receipt of the same room, user, type and thread it replaced (0 if
	// none is known); latest holds the position of each such key's
	// newest receipt. With them a sync shows each user's newest receipt
	// of its range without a map per sync.
	replaced []int64
	latest   map[receiptSlot]int64
	// cache holds encoded m.receipt events of public receipts for ranges
	// that end at cacheUpto; cacheBytes is their size.
	cache      map[receiptKey]json.RawMessage
	cacheUpto  int64
	cacheBytes int
	// shown is the position syncs read up to: the receipts after it are
	// committed but not yet shown (see showLocked). shownAt is when shown
	// last moved; showing is true while a timer is set to move it.
	shown   int64
	shownAt time.Time
	showing bool
}

// receiptSlot names what a receipt replaces: the receipt of the same room,
// user, type and thread.
type receiptSlot struct {
	room        id.RoomID
	user        id.UserID
	typ, thread string
}

// ReceiptsAdded records committed receipts, in stream order, moves the
// senders' unread counts where they are their own read receipts, and wakes
// waiting syncs once (those that wait for news other than receipts stay
// asleep). The receipt service calls it after each commit, in commit
// order, with that commit's receipts.
func (s *Service) ReceiptsAdded(rcs []store.Receipt) {
	if len(rcs) == 0 {
		return
	}
	// The counts move first: a sync that shows a user's own receipt
	// shows the counts it moved.
	for _, rc := range rcs {
		switch {
		case rc.Type != "m.read" && rc.Type != "m.read.private":
		case rc.ThreadID == "" || rc.ThreadID == "main":
			s.unread.readUpTo(rc.UserID, rc.RoomID, rc.EventID, rc.ThreadID == "main")
		default:
			s.unread.readThreadUpTo(rc.UserID, rc.RoomID, id.EventID(rc.ThreadID), rc.EventID)
		}
	}
	l := &s.receipts
	l.mu.Lock()
	if l.latest == nil {
		l.latest = map[receiptSlot]int64{}
	}
	for _, rc := range rcs {
		slot := receiptSlot{rc.RoomID, rc.UserID, rc.Type, rc.ThreadID}
		l.recent = append(l.recent, rc)
		l.replaced = append(l.replaced, l.latest[slot])
		l.latest[slot] = rc.StreamPos
		l.pos = max(l.pos, rc.StreamPos)
	}
	if len(l.recent) > receiptLogSize {
		drop := len(l.recent) - receiptLogSize/2
		l.start = l.recent[drop-1].StreamPos
		l.recent = append([]store.Receipt(nil), l.recent[drop:]...)
		l.replaced = append([]int64(nil), l.replaced[drop:]...)
		for k, pos := range l.latest {
			if pos <= l.start {
				delete(l.latest, k)
			}
		}
	}
	wake := s.showLocked()
	l.mu.Unlock()
	if wake {
		s.notifier.PokeReceipts()
	}
}

// showLocked lets syncs see the receipts up to the newest: at once when
// none were shown in the last receipt interval, otherwise at its end,
// when a timer calls showReceipts. In a busy room each member's receipt,
// shown on its own, would go out to every member; shown together, each
// member gets another member's newest receipt at most once per interval,
// and the receipts it replaced never. The caller holds s.receipts.mu and
// wakes the syncs when the result is true.
func (s *Service) showLocked() bool {
	l := &s.receipts
	if l.showing {
		return false // the timer shows these too
	}
	now := s.now()
	if wait := l.shownAt.Add(s.receiptInterval).Sub(now); s.receiptInterval > 0 && wait > 0 {
		l.showing = true
		time.AfterFunc(wait, s.showReceipts)
		return false
	}
	l.shown, l.shownAt = l.pos, now
	return true
}

// showReceipts shows syncs the receipts held back by showLocked and wakes
// the waiting ones.
func (s *Service) showReceipts() {
	l := &s.receipts
	l.mu.Lock()
	l.shown, l.shownAt, l.showing = l.pos, s.now(), false
	l.mu.Unlock()
	s.notifier.PokeReceipts()
}

// receiptPos returns the position of the receipt stream that syncs read
// up to.
func (s *Service) receiptPos() int64 {
	s.receipts.mu.Lock()
	defer s.receipts.mu.Unlock()
	return s.receipts.shown
}

// receiptsSince returns the receipts in (since, upto], in stream order,
// from memory when the log reaches back to since, and whether a later
// receipt of the range replaces each. The caller must not change the
// result.
func (s *Service) receiptsSince(ctx context.Context, since, upto int64) ([]store.Receipt, []bool, error) {
	l := &s.receipts
	l.mu.Lock()
	if since >= l.start {
		// The log is in stream order.
		i := sort.Search(len(l.recent), func(i int) bool { return l.recent[i].StreamPos > since })
		j := i + sort.Search(len(l.recent)-i, func(k int) bool { return l.recent[i+k].StreamPos > upto })
		// The log's entries never change and appends go past j (or to a
		// new array): the caller may read this part without the lock.
		out, replaces := l.recent[i:j:j], l.replaced[i:j:j]
		l.mu.Unlock()
		replaced := make([]bool, len(out))
		for _, p := range replaces {
			if p > since {
				k := sort.Search(len(out), func(k int) bool { return out[k].StreamPos >= p })
				if k < len(out) && out[k].StreamPos == p {
					replaced[k] = true
				}
			}
		}
		return out, replaced, nil
	}
	l.mu.Unlock()
	all, err := s.db.ReceiptsSince(ctx, since, receiptStoreLimit)
	if err != nil {
		return nil, nil, err
	}
	var out []store.Receipt
	for _, rc := range all {
		if rc.StreamPos <= upto {
			out = append(out, rc)
		}
	}
	// The store holds only each slot's newest receipt.
	return out, make([]bool, len(out)), nil
}

// receiptsByRoom returns, for each room with receipts in rcs, the indexes
// in rcs of its receipts, in order, leaving out the ones a later receipt
// of the range replaces (they are news no more). Indexes, not copies: a
// busy room's range holds a receipt of every member. The indexes of all
// rooms share one array, each room's part cut to its size. A range holds
// long runs of one room's receipts, so the rooms' map is looked up once
// per run rather than once per receipt.
func receiptsByRoom(rcs []store.Receipt, replaced []bool) map[id.RoomID][]int32 {
	index := map[id.RoomID]int{}
	var rooms []id.RoomID
	var counts []int
	// slot returns the room's index in rooms; cur is the last one found.
	cur := -1
	slot := func(roomID id.RoomID) int {
		if cur >= 0 && rooms[cur] == roomID {
			return cur
		}
		k, ok := index[roomID]
		if !ok {
			k = len(rooms)
			index[roomID] = k
			rooms = append(rooms, roomID)
			counts = append(counts, 0)
		}
		cur = k
		return k
	}
	news := 0
	for i, rc := range rcs {
		if !replaced[i] {
			counts[slot(rc.RoomID)]++
			news++
		}
	}
	all := make([]int32, news)
	parts := make([][]int32, len(rooms))
	off := 0
	for k, n := range counts {
		parts[k] = all[off : off : off+n]
		off += n
	}
	for i, rc := range rcs {
		if !replaced[i] {
			k := slot(rc.RoomID)
			parts[k] = append(parts[k], int32(i))
		}
	}
	out := make(map[id.RoomID][]int32, len(rooms))
	for k, roomID := range rooms {
		out[roomID] = parts[k]
	}
	return out
}

// addReceipts adds the receipts of the user's joined rooms in (since,
// upto] to resp as m.receipt ephemeral events (private receipts only to
// their owner); an initial sync gets each joined room's current receipts.
// A room where the user's own receipt moved also gets its unread counts.
// It sets next_batch's receipt position to upto.
func (s *Service) addReceipts(ctx context.Context, req Request, resp *Response, initial bool, since, upto int64) error {
	tok, err := ParseSyncToken(resp.NextBatch)
	if err != nil {
		return err
	}
	tok.Receipts = upto
	resp.NextBatch = tok.String()

	// Each room's receipts, as indexes into a slice of receipts: in an
	// incremental sync the range's receipts of all rooms, read in place,
	// never copied (in a busy room every member syncing the same range
	// gets the same event, encoded once).
	type roomReceipts struct {
		rcs []store.Receipt
		idx []int32
	}
	byRoom := map[id.RoomID]roomReceipts{}
	if initial {
		for room := range resp.Rooms.Join {
			rcs, err := s.db.RoomReceipts(ctx, id.RoomID(room))
			if err != nil {
				return err
			}
			idx := make([]int32, len(rcs))
			for i := range idx {
				idx[i] = int32(i)
			}
			byRoom[id.RoomID(room)] = roomReceipts{rcs, idx}
		}
	} else if since < upto {
		rcs, replaced, err := s.receiptsSince(ctx, since, upto)
		if err != nil {
			return err
		}
		for roomID, idx := range receiptsByRoom(rcs, replaced) {
			byRoom[roomID] = roomReceipts{rcs, idx}
		}
	}
	if len(byRoom) == 0 {
		return nil
	}
	ms, err := s.memberships(ctx, req.User)
	if err != nil {
		return err
	}
	var ephemeral *RoomEventFilter
	if req.Filter.Room != nil {
		ephemeral = req.Filter.Room.Ephemeral
	}
	for roomID, rr := range byRoom {
		room := string(roomID)
		if ms[roomID] != "join" || !req.Filter.Room.MatchRoom(room) {
			continue
		}
		// A filter may leave the receipts out; the user's own still
		// change the room's unread counts, which sync must update.
		shown := ephemeral.MatchEvent(room, "m.receipt", "", nil)
		// The selection filters rr.idx in place: this sync made it.
		sel := rr.idx[:0]
		own, private := false, false
		for _, i := range rr.idx {
			rc := &rr.rcs[i]
			if rc.Type == "m.read.private" && rc.UserID != req.User {
				continue
			}
			sel = append(sel, i)
			own = own || rc.UserID == req.User
			private = private || rc.Type == "m.read.private"
		}
		if len(sel) == 0 || !shown && (!own || initial) {
			continue
		}
		jr := resp.Rooms.Join[room]
		if jr == nil {
			jr = newJoinedRoom()
			resp.Rooms.Join[room] = jr
		}
		if own && !initial && jr.UnreadNotifications == nil {
			counts, _, _, err := s.unreadFor(ctx, req.User, roomID)
			if err != nil {
				return err
			}
			jr.setUnread(req, counts)
		}
		if !shown {
			continue
		}
		key := receiptKey{roomID, since, upto}
		shared := !initial && !private
		var ev json.RawMessage
		cached := false
		if shared {
			ev, cached = s.receipts.cachedReceipts(key)
		}
		if !cached {
			if ev, err = encodeReceipts(rr.rcs, sel); err != nil {
				return err
			}
			if shared {
				s.receipts.cacheReceipts(key, ev)
			}
		}
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, ev)
		jr.receiptEvents++
	}
	return nil
}
