package room

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// maxPrevEvents is the most forward extremities a new local event lists as
// its prev_events. The spec asks for all of them and the event format
// allows 20; like Synapse, Hafen takes the 10 deepest, so that a room with
// many forks still produces small events and the forks merge over the next
// few events.
const maxPrevEvents = 10

// txnRetryWindow is how long a persisted client transaction stays in its
// room's head, so that a retry racing its original is answered from memory.
// Older retries are answered from the store by the event path when the
// transaction's insert finds it recorded (processBatch). The entries a busy
// room holds grow with its traffic over this window: at 1,000 messages a
// second a minute would be 60,000 to 120,000 of them, ten seconds a sixth.
const txnRetryWindow = 10 * time.Second

// defaultIdleTimeout is how long a room head stays in memory unused. A
// room in use is looked up at least once a minute; an idle one costs one
// read of its current state when it is used again.
const defaultIdleTimeout = time.Minute

// roomState is the in-memory head of one room. mu is the room lock: it is
// held while a batch of the room's events is built, checked and persisted,
// and by every writer of the head fields. head guards the head fields
// against readers that do not hold the room lock (current-state queries),
// so that they never wait for a batch's commit: writers take it only for
// the moment they change the fields.
type roomState struct {
	mu sync.Mutex

	// pmu guards pending, the requests waiting for the next batch, and
	// evicted, set once the head has been dropped from Service.rooms (a
	// request that finds it set looks the room up again).
	pmu     sync.Mutex
	pending []*request
	evicted bool
	// gathering, when set, is closed once gatherTarget requests are
	// pending: a batch leader waits on it (see gather.go).
	gathering    chan struct{}
	gatherTarget int

	// gatherStats describe the last batch, for the next one's leader.
	// Guarded by mu.
	gatherStats gatherStats

	// loaded is set while the head fields hold the room as committed; it
	// is cleared after a failed persist so the next batch reloads the
	// head from the database. version never changes once set.
	loaded atomic.Bool
	// lastUsed is when a request last looked the room up (UnixNano).
	lastUsed atomic.Int64
	head     sync.RWMutex

	version   *roomversion.Version
	state     map[event.StateKey]*event.PDU
	stateNIDs map[event.StateKey]int64
	// stateGroup is the group of the current state: the state resolved
	// across all forward extremities.
	stateGroup int64
	// generation is the room's generation as last read or written; a
	// persist advances it by compare-and-set (store.Tx.AdvanceRoomHead).
	generation int64
	// extremities are the forward extremities, deepest first.
	extremities []*event.PDU
	// hdrEpoch advances whenever a stored event's redaction may have
	// changed or the head was reloaded: headers cached under an older
	// epoch are dropped.
	hdrEpoch int64
	// headers caches the current state's event headers (see
	// CurrentStateHeaders); its own lock, a leaf, guards it.
	headers headerCache

	// txns maps the client transactions of recently persisted events to
	// those events' IDs, so a retry racing its original is answered with
	// the original instead of failing its batch on the unique transaction
	// ID. It holds IDs, not events, so that it keeps no event alive.
	// Guarded by mu.
	txns recentTxns
}

// recentTxns holds the client transactions persisted within the last one
// to two txnRetryWindows, in two generations: entries move to prev when cur
// is older than the window, and are dropped with prev a window later. Its
// size is bounded by the room's traffic within that time, not its history.
type recentTxns struct {
	cur, prev map[txnKey]id.EventID
	rotated   time.Time
}

func (r *recentTxns) get(k txnKey) (id.EventID, bool) {
	if e, ok := r.cur[k]; ok {
		return e, true
	}
	e, ok := r.prev[k]
	return e, ok
}

// expire drops the entries older than the window as of now.
func (r *recentTxns) expire(now time.Time) {
	switch age := now.Sub(r.rotated); {
	case age >= 2*txnRetryWindow:
		r.cur, r.prev, r.rotated = nil, nil, now
	case age >= txnRetryWindow:
		r.cur, r.prev, r.rotated = nil, r.cur, now
	}
}

func (r *recentTxns) put(k txnKey, e id.EventID, now time.Time) {
	r.expire(now)
	if r.cur == nil {
		r.cur = map[txnKey]id.EventID{}
	}
	// The key's strings may share memory with a whole request (path
	// values): copy the transaction ID so the entry keeps only itself
	// alive. The scope (endpoint, room and event type) is the same for
	// most sends of a room: one shared copy serves them all.
	k.txn, k.scope = strings.Clone(k.txn), unique.Make(k.scope).Value()
	r.cur[k] = e
}

func (r *recentTxns) len() int { return len(r.cur) + len(r.prev) }

// room returns the loaded head of roomID.
func (s *Service) room(ctx context.Context, roomID id.RoomID) (*roomState, error) {
	s.mu.Lock()
	rs, ok := s.rooms[roomID]
	if !ok {
		rs = &roomState{}
		s.rooms[roomID] = rs
	}
	s.mu.Unlock()
	rs.lastUsed.Store(s.now().UnixNano())
	if rs.loaded.Load() {
		return rs, nil
	}

	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := s.ensureLoaded(ctx, roomID, rs); err != nil {
		if errors.Is(err, ErrRoomNotFound) {
			// Forget the placeholder, so that requests naming rooms that
			// do not exist cannot grow the map.
			s.mu.Lock()
			if s.rooms[roomID] == rs {
				delete(s.rooms, roomID)
			}
			s.mu.Unlock()
		}
		return nil, err
	}
	return rs, nil
}

// ensureLoaded loads the head unless it is loaded. The caller holds rs.mu.
func (s *Service) ensureLoaded(ctx context.Context, roomID id.RoomID, rs *roomState) error {
	if rs.loaded.Load() {
		return nil
	}
	if err := s.load(ctx, roomID, rs); err != nil {
		return err
	}
	rs.loaded.Store(true)
	return nil
}

// load reads a room's head from the store. The caller holds rs.mu.
func (s *Service) load(ctx context.Context, roomID id.RoomID, rs *roomState) error {
	info, err := s.db.Room(ctx, roomID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrRoomNotFound
	}
	if err != nil {
		return fmt.Errorf("load room %s: %w", roomID, err)
	}
	v, ok := roomversion.Lookup(roomversion.ID(info.RoomVersion))
	if !ok {
		return fmt.Errorf("room %s has unsupported version %q", roomID, info.RoomVersion)
	}
	stored, err := s.db.CurrentStateEvents(ctx, roomID)
	if err != nil {
		return fmt.Errorf("load state of %s: %w", roomID, err)
	}
	state := make(map[event.StateKey]*event.PDU, len(stored))
	nids := make(map[event.StateKey]int64, len(stored))
	for _, se := range stored {
		pdu, err := parseStored(se, v)
		if err != nil {
			return fmt.Errorf("load state of %s: %w", roomID, err)
		}
		k := pdu.StateKeyTuple()
		state[k] = pdu
		nids[k] = se.NID
	}
	ext, err := s.db.Extremities(ctx, roomID)
	if err != nil {
		return fmt.Errorf("load extremities of %s: %w", roomID, err)
	}
	extEvents, err := s.db.EventsByID(ctx, ext)
	if err != nil {
		return fmt.Errorf("load extremities of %s: %w", roomID, err)
	}
	extremities := make([]*event.PDU, 0, len(extEvents))
	for _, e := range extEvents {
		pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
		if err != nil {
			return fmt.Errorf("parse extremity %s: %w", e.EventID, err)
		}
		extremities = append(extremities, pdu)
	}
	sortExtremities(extremities)

	rs.head.Lock()
	defer rs.head.Unlock()
	if rs.version == nil {
		rs.version = v
	}
	rs.state, rs.stateNIDs = state, nids
	rs.hdrEpoch++
	rs.extremities = extremities
	rs.stateGroup = info.StateGroup
	rs.generation = info.Generation
	return nil
}

// parseStored parses a stored event, in its redacted form if a redaction
// applies to it: that is the form the auth rules, state resolution and
// clients see.
func parseStored(e store.Event, v *roomversion.Version) (*event.PDU, error) {
	raw := e.JSON
	if e.RedactedBecause != "" {
		r, err := event.Redact(raw, v)
		if err != nil {
			return nil, fmt.Errorf("redact stored event %s: %w", e.EventID, err)
		}
		raw = r
	}
	pdu, err := event.ParseTrusted(raw, v, e.EventID)
	if err != nil {
		return nil, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
	}
	return pdu, nil
}

// sortExtremities orders forward extremities deepest first (then by event
// ID), the order in which new events pick their prev_events.
func sortExtremities(ext []*event.PDU) {
	slices.SortFunc(ext, func(a, b *event.PDU) int {
		if c := cmp.Compare(b.Depth(), a.Depth()); c != 0 {
			return c
		}
		return cmp.Compare(a.EventID(), b.EventID())
	})
}

// unload marks the head stale after a failed persist: whatever the
// database holds now (the transaction may or may not have committed), the
// next batch reads it afresh. The caller holds rs.mu.
func (rs *roomState) unload() {
	rs.loaded.Store(false)
}

// janitor evicts idle room heads until Close.
func (s *Service) janitor(every time.Duration) {
	defer close(s.janitorDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.evictIdle(s.now())
		}
	}
}

// evictIdle drops the heads of rooms nobody looked up since now minus the
// idle timeout, and returns how many it dropped. A head that is busy (its
// lock held or requests queued) stays. The heads it keeps forget their
// transactions older than the retry window.
func (s *Service) evictIdle(now time.Time) int {
	cutoff := now.Add(-s.idleTimeout).UnixNano()
	type head struct {
		roomID id.RoomID
		rs     *roomState
	}
	s.mu.Lock()
	heads := make([]head, 0, len(s.rooms))
	for roomID, rs := range s.rooms {
		heads = append(heads, head{roomID, rs})
	}
	s.mu.Unlock()
	n := 0
	for _, h := range heads {
		rs := h.rs
		if !rs.mu.TryLock() {
			continue
		}
		rs.pmu.Lock()
		if len(rs.pending) == 0 && rs.lastUsed.Load() < cutoff {
			rs.evicted = true
			s.mu.Lock()
			if s.rooms[h.roomID] == rs {
				delete(s.rooms, h.roomID)
				n++
			}
			s.mu.Unlock()
		} else {
			rs.txns.expire(now)
		}
		rs.pmu.Unlock()
		rs.mu.Unlock()
	}
	return n
}

// loadedRooms returns how many room heads are in memory.
func (s *Service) loadedRooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}
