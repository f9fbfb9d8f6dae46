package clientsync

import (
	"sync"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// entry is one committed event in the ring.
type entry struct {
	pos int64
	pdu *event.PDU
	// txnDevice and txnID are the sending device's transaction, if local.
	txnDevice id.DeviceID
	txnID     string
	// replaced is the state event this one replaced, as sync's consumer
	// found it (see Service.replacedStates); replacedKnown says whether
	// it was looked up.
	replaced      *event.PDU
	replacedKnown bool
	// gapBelow marks an event stored above a gap in its room's history
	// (store.Event.GapBelow).
	gapBelow bool
}

// entryOverhead estimates what an entry keeps alive besides its event's
// JSON: the parsed event (its fields, prev_events and auth_events) and the
// entry itself.
const entryOverhead = 512

// cost is the memory the ring counts for e.
func (e *entry) cost() int {
	n := entryOverhead + len(e.txnID)
	if e.pdu != nil {
		n += len(e.pdu.JSON())
	}
	if e.replaced != nil {
		n += entryOverhead + len(e.replaced.JSON())
	}
	return n
}

// Timeline is a ring of the most recently committed events, in stream
// order, bounded both in events and in the memory they keep (events may be
// up to 64 KiB each). It knows the position from which it is complete:
// every event after Floor is in the ring.
type Timeline struct {
	mu    sync.RWMutex
	buf   []entry
	start int // index of the oldest entry
	n     int // number of entries
	floor int64
	// bytes is the cost of the entries; maxBytes bounds it.
	bytes, maxBytes int
}

// NewTimeline returns a ring of at most capacity events costing at most
// maxBytes together, complete after stream position floor (the newest
// position when the server started).
func NewTimeline(capacity, maxBytes int, floor int64) *Timeline {
	return &Timeline{buf: make([]entry, capacity), floor: floor, maxBytes: maxBytes}
}

// Append adds committed events, which must come in stream order. The oldest
// entries fall out of the ring and raise its floor.
func (t *Timeline) Append(e entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cost := e.cost()
	for t.n > 0 && (t.n == len(t.buf) || t.bytes+cost > t.maxBytes) {
		old := &t.buf[t.start]
		t.floor = old.pos
		t.bytes -= old.cost()
		*old = entry{}
		t.start = (t.start + 1) % len(t.buf)
		t.n--
	}
	t.buf[(t.start+t.n)%len(t.buf)] = e
	t.bytes += cost
	t.n++
}

// Range returns the events with since < pos <= upto, oldest first, and true;
// or false if the ring no longer holds everything after since.
func (t *Timeline) Range(since, upto int64) ([]entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if since < t.floor {
		return nil, false
	}
	from, to := t.after(since), t.after(upto)
	out := make([]entry, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, t.buf[(t.start+i)%len(t.buf)])
	}
	return out, true
}

// after returns the index (from the oldest entry) of the first entry
// after position pos, t.n if none is. The caller holds t.mu.
func (t *Timeline) after(pos int64) int {
	lo, hi := 0, t.n
	for lo < hi {
		mid := (lo + hi) / 2
		if t.buf[(t.start+mid)%len(t.buf)].pos <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// placeScan bounds how far back Place looks: read receipts name the
// newest events of a room, which sit at the ring's end.
const placeScan = 1024

// Place returns eventID and its stream position if it is among the
// newest placeScan events of the ring. Every event in the ring is in its
// room's timeline, where its place never changes.
func (t *Timeline) Place(eventID id.EventID) (pdu *event.PDU, pos int64, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := t.n - 1; i >= 0 && i >= t.n-placeScan; i-- {
		e := &t.buf[(t.start+i)%len(t.buf)]
		if e.pdu != nil && e.pdu.EventID() == eventID {
			return e.pdu, e.pos, true
		}
	}
	return nil, 0, false
}
