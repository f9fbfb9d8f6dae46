package stream

import (
	"context"
	"sync"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Event is one committed event with its position in the server's event
// stream.
type Event struct {
	PDU       *event.PDU
	StreamPos int64
	// DeviceID and TxnID are the sending device's transaction, for events
	// of local clients that gave one.
	DeviceID id.DeviceID
	TxnID    string
	// StateGroupBefore is the state group before the event when its
	// publisher knew it (events published by the event path); 0 when it
	// is not known (events read back from the store), and consumers that
	// need it look it up.
	StateGroupBefore int64
	// GapBelow marks an event stored above a gap in its room's history
	// (store.Event.GapBelow).
	GapBelow bool
}

// DefaultHintEvents is the number of recently published events a Stream
// keeps for consumers that follow closely.
const DefaultHintEvents = 4096

// segment is one published batch: the events committed in (after, upto].
type segment struct {
	after, upto int64
	evs         []Event
}

// Stream is the published head of the event stream: the newest stream
// position whose events have all committed, and the most recent batches as
// a hint. It is safe for concurrent use.
type Stream struct {
	mu      sync.Mutex
	pos     int64
	changed chan struct{}
	// segs are the most recent published batches, oldest first, each
	// following on from the one before; they hold at most limit events
	// (and always the newest batch).
	segs  []segment
	held  int
	limit int
	// broken means events may have committed since pos that were not
	// published (an ambiguous write); the next batch does not follow on.
	broken bool
}

// New returns a Stream whose published position is pos (the newest stream
// position in the database when the server starts), keeping up to
// hintEvents recent events in memory (0: DefaultHintEvents).
func New(pos int64, hintEvents int) *Stream {
	if hintEvents <= 0 {
		hintEvents = DefaultHintEvents
	}
	return &Stream{pos: pos, changed: make(chan struct{}), limit: hintEvents}
}

// Publish records a committed batch, in stream order, and wakes the
// consumers. The event path calls it from the store's after-commit hook,
// so batches arrive in commit order; it never blocks on a consumer. Every
// write that gives events a stream position must publish them (or call
// Invalidate when it cannot), or consumers that follow in memory miss them.
func (s *Stream) Publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	upto := evs[len(evs)-1].StreamPos
	if evs[0].StreamPos <= s.pos || upto <= s.pos {
		// Not after what is published: positions went back, which one
		// writer never does. Drop the hints; consumers read the store.
		s.segs, s.held, s.broken = nil, 0, true
		s.advance(max(upto, s.pos))
		return
	}
	after := s.pos
	if s.broken {
		after, s.broken = -1, false // no consumer stands at -1
	}
	s.segs = append(s.segs, segment{after: after, upto: upto, evs: evs})
	s.held += len(evs)
	for len(s.segs) > 1 && s.held > s.limit {
		s.held -= len(s.segs[0].evs)
		s.segs[0] = segment{}
		s.segs = s.segs[1:]
	}
	s.advance(upto)
}

// advance moves the published position to pos and wakes every waiter.
// The caller holds s.mu.
func (s *Stream) advance(pos int64) {
	if pos <= s.pos {
		return
	}
	s.pos = pos
	close(s.changed)
	s.changed = make(chan struct{})
}

// Invalidate records that events may have committed without being
// published, for example when the outcome of a COMMIT is unknown. The
// published position stays; consumers read the next batch's range from
// the store, which then covers such events.
func (s *Stream) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = true
}

// Position returns the published position.
func (s *Stream) Position() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// Wait blocks until the published position is past after or ctx is done,
// and returns the published position.
func (s *Stream) Wait(ctx context.Context, after int64) int64 {
	for {
		s.mu.Lock()
		pos, ch := s.pos, s.changed
		s.mu.Unlock()
		if pos > after {
			return pos
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Position()
		}
	}
}

// recent returns the published events after position after, oldest
// first, whole batches up to about limit events, and the position they
// reach, when a batch in memory starts exactly at after; ok is false when
// the store must be read instead. A consumer that reads the store up to the
// published position lands on such a boundary again.
func (s *Stream) recent(after int64, limit int) (evs []Event, upto int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after == s.pos && !s.broken {
		return nil, after, true // nothing published after it
	}
	i := len(s.segs) - 1
	for i >= 0 && s.segs[i].after != after {
		if s.segs[i].after < after {
			return nil, 0, false
		}
		i--
	}
	if i < 0 {
		return nil, 0, false
	}
	upto = after
	for ; i < len(s.segs) && s.segs[i].after == upto && len(evs) < limit; i++ {
		evs = append(evs, s.segs[i].evs...)
		upto = s.segs[i].upto
	}
	return evs, upto, true
}
