package room

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// headerCache keeps, for the events of a room head's current state, what
// readers need besides the parsed events (stream position, redaction,
// transaction, the event each replaced), so that reading the current
// state costs no query once warm. Entries are immutable facts of stored
// events except the redaction: the cache belongs to one epoch of the head
// (see roomState.hdrEpoch), which a committed redaction or a reload
// advances, and is dropped when the epoch moved. It lives and dies with
// the head, so an evicted room keeps nothing.
type headerCache struct {
	mu    sync.Mutex
	epoch int64
	byNID map[int64]headerEntry
	// groups caches past states by group (see StateAtGroupSorted); it
	// does not depend on the epoch.
	groups groupCache
	// snaps holds the snapshots CurrentStateHeaders made, by type, for
	// the epoch snapEpoch and the state group snapGroup: until either
	// moves, a reader of the same state gets the same snapshot.
	snaps                map[string]StateSnapshot
	snapEpoch, snapGroup int64
}

// maxCachedSnapshots bounds the types whose snapshots a head keeps.
const maxCachedSnapshots = 4

type headerEntry struct {
	ev store.Event
	// replaces is the NID of the event ev replaced (0: none); known
	// reports whether that is recorded.
	replaces int64
	known    bool
}

// StateSnapshot is a room's current state as event headers (store.Events
// without their JSON, ordered by type and state key) with the events
// parsed, by event ID.
type StateSnapshot struct {
	Headers store.Headers
	Parsed  map[id.EventID]*event.PDU
	// StateGroup is the state group of the current state.
	StateGroup int64
}

// CurrentStateGroup returns the state group of a room's current state.
func (s *Service) CurrentStateGroup(ctx context.Context, roomID id.RoomID) (int64, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return 0, err
	}
	rs.head.RLock()
	defer rs.head.RUnlock()
	return rs.stateGroup, nil
}

// CurrentStateHeaders returns the room's current state of type typ (""
// for all) from its head: the headers come from the head's cache, and
// only the events it does not hold yet are read from the store. The
// snapshot is kept until the state or the epoch moves on, so readers of
// an unchanged room share it: callers must not change it.
func (s *Service) CurrentStateHeaders(ctx context.Context, roomID id.RoomID, typ string) (StateSnapshot, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return StateSnapshot{}, err
	}
	type cur struct {
		k   event.StateKey
		pdu *event.PDU
		nid int64
	}
	rs.head.RLock()
	epoch, group := rs.hdrEpoch, rs.stateGroup
	rs.head.RUnlock()
	hc := &rs.headers
	hc.mu.Lock()
	snap, ok := hc.snaps[typ]
	ok = ok && hc.snapEpoch == epoch && hc.snapGroup == group
	hc.mu.Unlock()
	if ok {
		return snap, nil
	}
	rs.head.RLock()
	epoch, group, stateLen := rs.hdrEpoch, rs.stateGroup, len(rs.state)
	entries := make([]cur, 0, len(rs.state))
	for k, pdu := range rs.state {
		if typ == "" || k.Type == typ {
			entries = append(entries, cur{k, pdu, rs.stateNIDs[k]})
		}
	}
	rs.head.RUnlock()
	slices.SortFunc(entries, func(a, b cur) int {
		return cmp.Or(cmp.Compare(a.k.Type, b.k.Type), cmp.Compare(a.k.StateKey, b.k.StateKey))
	})

	hdrs := make([]headerEntry, len(entries))
	have := make([]bool, len(entries))
	var missing []int64
	hc.mu.Lock()
	if hc.epoch != epoch {
		hc.epoch, hc.byNID = epoch, nil
	}
	for i, e := range entries {
		if hdrs[i], have[i] = hc.byNID[e.nid]; !have[i] {
			missing = append(missing, e.nid)
		}
	}
	hc.mu.Unlock()
	if len(missing) > 0 {
		fetched, err := s.stateHeaders(ctx, roomID, typ, missing)
		if err != nil {
			return StateSnapshot{}, err
		}
		for i, e := range entries {
			if !have[i] {
				hdrs[i], have[i] = fetched[e.nid]
			}
		}
		hc.mu.Lock()
		if hc.epoch == epoch {
			if hc.byNID == nil {
				hc.byNID = make(map[int64]headerEntry, len(fetched))
			}
			for nid, h := range fetched {
				hc.byNID[nid] = h
			}
			// Drop the entries of replaced events once they add up:
			// keep the state read (all of it when typ is ""), or, for
			// a read of one type, start over.
			if len(hc.byNID) > 2*stateLen+1024 {
				keep := map[int64]headerEntry{}
				if typ == "" {
					for i, e := range entries {
						if have[i] {
							keep[e.nid] = hdrs[i]
						}
					}
				}
				hc.byNID = keep
			}
		}
		hc.mu.Unlock()
	}
	snap = StateSnapshot{
		Headers:    store.Headers{Events: make([]store.Event, 0, len(entries)), Replaces: make(map[int64]int64, len(entries))},
		Parsed:     make(map[id.EventID]*event.PDU, len(entries)),
		StateGroup: group,
	}
	for i, e := range entries {
		if !have[i] {
			continue // gone from the store since the head was read
		}
		snap.Headers.Events = append(snap.Headers.Events, hdrs[i].ev)
		if hdrs[i].known {
			snap.Headers.Replaces[e.nid] = hdrs[i].replaces
		}
		snap.Parsed[e.pdu.EventID()] = e.pdu
	}
	if len(snap.Headers.Events) == len(entries) {
		hc.mu.Lock()
		if hc.snapEpoch != epoch || hc.snapGroup != group || len(hc.snaps) >= maxCachedSnapshots {
			hc.snaps, hc.snapEpoch, hc.snapGroup = map[string]StateSnapshot{}, epoch, group
		}
		hc.snaps[typ] = snap
		hc.mu.Unlock()
	}
	return snap, nil
}

// stateHeaders reads the headers of the current-state events nids: the
// whole current state in one query when most are missing (a cold head),
// else those events by NID.
func (s *Service) stateHeaders(ctx context.Context, roomID id.RoomID, typ string, nids []int64) (map[int64]headerEntry, error) {
	out := make(map[int64]headerEntry, len(nids))
	if len(nids) >= 64 {
		h, err := s.db.CurrentStateHeaders(ctx, roomID, typ)
		if err != nil {
			return nil, err
		}
		for _, e := range h.Events {
			rep, known := h.Replaces[e.NID]
			out[e.NID] = headerEntry{ev: e, replaces: rep, known: known}
		}
		return out, nil
	}
	evs, err := s.db.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("load state headers of %s: %w", roomID, err)
	}
	reps, err := s.db.StateReplaces(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("load state headers of %s: %w", roomID, err)
	}
	for _, e := range evs {
		e.JSON = nil
		rep, known := reps[e.NID]
		out[e.NID] = headerEntry{ev: e, replaces: rep, known: known}
	}
	return out, nil
}

// CachedStateHeaders returns the headers the room head's cache holds for
// the events nids (see CurrentStateHeaders), with what each replaced where
// recorded, and the NIDs it does not hold. A reader of another state than
// the current one takes most of its events' headers from here: the events
// still in the current state.
func (s *Service) CachedStateHeaders(ctx context.Context, roomID id.RoomID, nids []int64) (store.Headers, []int64, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return store.Headers{}, nil, err
	}
	rs.head.RLock()
	epoch := rs.hdrEpoch
	rs.head.RUnlock()
	h := store.Headers{Events: make([]store.Event, 0, len(nids)), Replaces: make(map[int64]int64, len(nids))}
	var missing []int64
	hc := &rs.headers
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, nid := range nids {
		en, ok := hc.byNID[nid]
		if !ok || hc.epoch != epoch {
			missing = append(missing, nid)
			continue
		}
		h.Events = append(h.Events, en.ev)
		if en.known {
			h.Replaces[nid] = en.replaces
		}
	}
	return h, missing, nil
}
