package room

// Spec: Server-Server API § Backfilling and retrieving missing events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/stateres"
	"github.com/hafenchat/hafen/internal/store"
)

// StateIDs is a room state as the event IDs of stored events.
type StateIDs = map[event.StateKey]id.EventID

// History is a piece of a room's past fetched from another server
// (/backfill): events that enter the room's history, never its present.
type History struct {
	RoomID id.RoomID
	// Origin is the server that gave the events: the first to ask for
	// the history below them (store.BackwardExtremity).
	Origin id.ServerName
	// Events passed the checks on receipt 1–4 (pducheck.CheckIncoming),
	// in any order.
	Events []*event.PDU
	// StateBefore returns the state before an event whose prev_events this
	// server does not have with their state (the oldest events of the
	// piece), every event of it stored (see StoreOutliers). Nil, or an
	// error, leaves such an event out.
	StateBefore func(ctx context.Context, e *event.PDU) (StateIDs, error)
}

// historyEvent is an event of a History with what its import decided.
type historyEvent struct {
	pdu      *event.PDU
	before   StateIDs
	rejected bool
	// promote marks an event stored as an outlier (part of a state or
	// an auth chain) that now takes its place in the history.
	promote bool
}

// ImportHistory stores a piece of a room's history, as history: each
// event with the state before it (computed from its prev_events, resolved
// with the room version's state resolution where they fork, or given by
// h.StateBefore at the bottom of the piece), checked against that state
// (check 5: rejected events are kept without a timeline place), and
// given a backfill position (store.EventRecord.Backfilled), so that
// /messages and /context find it in its place by depth while sync and the
// federation sender never see it as new. The room's head — forward
// extremities, current state, memberships — does not change, and nothing
// is published to the event stream. Events stored already are skipped;
// outliers among them are promoted to history. The room's backward
// extremities follow in the same transaction: the events stored are holes
// no more, and the prev events of the piece this server lacks become
// holes below it. It returns how many events entered the timeline.
func (s *Service) ImportHistory(ctx context.Context, h History) (int, error) {
	vs, err := s.Version(ctx, h.RoomID)
	if err != nil {
		return 0, err
	}
	v, ok := roomversion.Lookup(roomversion.ID(vs))
	if !ok {
		return 0, fmt.Errorf("import history of %s: room version %q not supported", h.RoomID, vs)
	}
	evs := make([]*event.PDU, 0, len(h.Events))
	seen := map[id.EventID]bool{}
	for _, e := range h.Events {
		if e.RoomID() == h.RoomID && !seen[e.EventID()] {
			seen[e.EventID()] = true
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b *event.PDU) int { return cmp.Compare(a.Depth(), b.Depth()) })
	hv := &historyView{s: s, roomID: h.RoomID, v: v, pdus: map[id.EventID]*event.PDU{}, stored: map[id.EventID]*store.Event{},
		after: map[id.EventID]StateIDs{}, rejected: map[id.EventID]bool{}}
	known, err := s.db.EventsByID(ctx, ids(evs))
	if err != nil {
		return 0, fmt.Errorf("import history of %s: %w", h.RoomID, err)
	}
	for i := range known {
		hv.stored[known[i].EventID] = &known[i]
	}

	var plan []historyEvent
	for _, e := range evs {
		se := hv.stored[e.EventID()]
		if se != nil && !se.Outlier {
			continue // in the timeline already, or rejected or soft failed
		}
		before, err := hv.stateBefore(ctx, e.PrevEvents())
		if errors.Is(err, errStateUnknown) && h.StateBefore != nil {
			before, err = h.StateBefore(ctx, e)
		}
		if err != nil {
			s.log.Debug("backfilled event left out", "room_id", h.RoomID, "event_id", e.EventID(), "err", err)
			continue
		}
		he := historyEvent{pdu: e, before: before, promote: se != nil}
		// 5: passes the auth rules against the state before the event.
		auth, err := hv.authState(ctx, e, before)
		if err == nil {
			err = authrules.Check(e, auth)
		}
		if err != nil {
			he.rejected = true
			hv.rejected[e.EventID()] = true
			s.log.Debug("backfilled event rejected", "room_id", h.RoomID, "event_id", e.EventID(), "err", err)
		}
		after := before
		if e.IsState() && !he.rejected {
			after = maps.Clone(before)
			after[e.StateKeyTuple()] = e.EventID()
		}
		hv.after[e.EventID()] = after
		hv.pdus[e.EventID()] = e
		if he.promote && he.rejected {
			continue // an outlier that fails here stays an outlier
		}
		plan = append(plan, he)
	}
	if len(plan) == 0 {
		return 0, nil
	}
	stored, promoted := 0, false
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		stored, promoted = 0, false
		if err := hv.write(ctx, tx, plan, &stored, &promoted); err != nil {
			return err
		}
		return writeBackwardExtremities(ctx, tx, h, plan)
	})
	if err != nil {
		return 0, fmt.Errorf("import history of %s: %w", h.RoomID, err)
	}
	if promoted {
		// Promoted events may be in the current state, whose cached
		// headers carry their stream positions.
		s.mu.Lock()
		rs := s.rooms[h.RoomID]
		s.mu.Unlock()
		if rs != nil {
			rs.head.Lock()
			rs.hdrEpoch++
			rs.head.Unlock()
		}
	}
	return stored, nil
}

// writeBackwardExtremities records the holes below a piece of history
// stored and forgets those it filled (see store.BackwardExtremity).
func writeBackwardExtremities(ctx context.Context, tx *store.Tx, h History, plan []historyEvent) error {
	in := make(map[id.EventID]bool, len(plan))
	filled := make([]id.EventID, 0, len(plan))
	for _, he := range plan {
		if !he.rejected {
			in[he.pdu.EventID()] = true
			filled = append(filled, he.pdu.EventID())
		}
	}
	if err := tx.RemoveBackwardExtremities(ctx, h.RoomID, filled); err != nil {
		return err
	}
	for _, he := range plan {
		if he.rejected {
			continue
		}
		var missing []id.EventID
		for _, p := range he.pdu.PrevEvents() {
			if !in[p] {
				missing = append(missing, p)
			}
		}
		// Prev events in the timeline already are left out by the store.
		if err := tx.AddBackwardExtremities(ctx, he.pdu.EventID(), missing, h.Origin, 0); err != nil {
			return err
		}
	}
	return nil
}

// historyView is what an import of history knows of the room's graph: the
// events of the piece and those read from the store, and the state after
// each event it computed.
type historyView struct {
	s      *Service
	roomID id.RoomID
	v      *roomversion.Version
	pdus   map[id.EventID]*event.PDU
	stored map[id.EventID]*store.Event
	// after is the state after each event computed; groupOf the state
	// group before the stored events read, whose state before is
	// beforeOf.
	after    map[id.EventID]StateIDs
	rejected map[id.EventID]bool
	groupOf  map[id.EventID]int64
	beforeOf map[id.EventID]StateIDs
}

// stateBefore returns the state before an event with prev_events prevs:
// the state after its one prev event, or the resolution of the states
// after each. It wraps errStateUnknown if a prev event is not stored with
// its state.
func (hv *historyView) stateBefore(ctx context.Context, prevs []id.EventID) (StateIDs, error) {
	sets := make([]StateIDs, 0, len(prevs))
	for _, p := range prevs {
		st, err := hv.stateAfter(ctx, p)
		if err != nil {
			return nil, err
		}
		sets = append(sets, st)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: no prev_events", errStateUnknown)
	}
	if len(sets) == 1 {
		return sets[0], nil
	}
	res, err := stateres.ResolveWithOptions(hv.v, sets, func(eid id.EventID) (*event.PDU, bool) {
		pdu, err := hv.pdu(ctx, eid)
		return pdu, err == nil
	}, stateres.Options{Rejected: func(eid id.EventID) bool { return hv.rejected[eid] }})
	if err != nil {
		return nil, fmt.Errorf("resolve state of %s: %w", hv.roomID, err)
	}
	return res, nil
}

// stateAfter returns the state after an event of the piece or the store.
func (hv *historyView) stateAfter(ctx context.Context, eid id.EventID) (StateIDs, error) {
	if st, ok := hv.after[eid]; ok {
		return st, nil
	}
	db := hv.s.db
	se := hv.stored[eid]
	if se == nil {
		evs, err := db.EventsByID(ctx, []id.EventID{eid})
		if err != nil {
			return nil, fmt.Errorf("load event %s: %w", eid, err)
		}
		if len(evs) == 0 || evs[0].RoomID != hv.roomID {
			return nil, fmt.Errorf("%w: %s is not stored", errStateUnknown, eid)
		}
		se = &evs[0]
		hv.stored[eid] = se
	}
	group, err := db.StateGroupBeforeEvent(ctx, se.NID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s is stored without its state", errStateUnknown, eid)
	}
	if err != nil {
		return nil, err
	}
	nids, err := db.StateAtGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	list := slices.Collect(maps.Values(nids))
	evs, err := db.EventsByNID(ctx, list)
	if err != nil {
		return nil, err
	}
	before := make(StateIDs, len(evs))
	for _, e := range evs {
		if e.StateKey != nil {
			before[event.StateKey{Type: e.Type, StateKey: *e.StateKey}] = e.EventID
		}
	}
	if hv.groupOf == nil {
		hv.groupOf, hv.beforeOf = map[id.EventID]int64{}, map[id.EventID]StateIDs{}
	}
	hv.groupOf[eid], hv.beforeOf[eid] = group, before
	after := before
	if se.StateKey != nil && !se.Rejected {
		after = maps.Clone(before)
		after[event.StateKey{Type: se.Type, StateKey: *se.StateKey}] = eid
	}
	if se.Rejected {
		hv.rejected[eid] = true
	}
	hv.after[eid] = after
	return after, nil
}

// pdu returns an event of the piece or the store.
func (hv *historyView) pdu(ctx context.Context, eid id.EventID) (*event.PDU, error) {
	if pdu, ok := hv.pdus[eid]; ok {
		return pdu, nil
	}
	evs, err := hv.s.db.EventsByID(ctx, []id.EventID{eid})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].RoomID != hv.roomID {
		return nil, fmt.Errorf("%w: %s is not stored", errStateUnknown, eid)
	}
	pdu, err := parseStored(evs[0], hv.v)
	if err != nil {
		return nil, err
	}
	if evs[0].Rejected {
		hv.rejected[eid] = true
	}
	hv.pdus[eid] = pdu
	return pdu, nil
}

// authState selects from st the events the auth rules need for e.
func (hv *historyView) authState(ctx context.Context, e *event.PDU, st StateIDs) (authrules.StateMap, error) {
	var sk *string
	if k, ok := e.StateKey(); ok {
		sk = &k
	}
	keys, err := authrules.NeededStateKeys(e.Version(), e.Type(), sk, e.Sender(), e.Content())
	if err != nil {
		keys = nil // the auth rules reject what cannot be read
	}
	keys = append(keys, event.StateKey{Type: "m.room.create"})
	out := authrules.StateMap{}
	for _, k := range keys {
		eid, ok := st[k]
		if !ok {
			continue
		}
		pdu, err := hv.pdu(ctx, eid)
		if err != nil {
			return nil, err
		}
		out[k] = pdu
	}
	return out, nil
}

// write stores the planned events in order, each with its state group:
// the group of its prev event's state when that is the same, a delta
// against it when the prev event is stored or in the plan, else a full
// state.
func (hv *historyView) write(ctx context.Context, tx *store.Tx, plan []historyEvent, stored *int, promoted *bool) error {
	nids := map[id.EventID]int64{}
	groups := maps.Clone(hv.groupOf)
	if groups == nil {
		groups = map[id.EventID]int64{}
	}
	befores := maps.Clone(hv.beforeOf)
	if befores == nil {
		befores = map[id.EventID]StateIDs{}
	}
	var need []id.EventID
	inPlan := map[id.EventID]bool{}
	for _, he := range plan {
		inPlan[he.pdu.EventID()] = true
	}
	for _, he := range plan {
		for _, eid := range he.before {
			if !inPlan[eid] {
				need = append(need, eid)
			}
		}
	}
	slices.Sort(need)
	found, err := tx.EventNIDs(ctx, slices.Compact(need))
	if err != nil {
		return err
	}
	maps.Copy(nids, found)
	nidOf := func(eid id.EventID) (int64, error) {
		if nid, ok := nids[eid]; ok {
			return nid, nil
		}
		// Stored meanwhile by another import.
		more, err := tx.EventNIDs(ctx, []id.EventID{eid})
		if err != nil {
			return 0, err
		}
		if nid, ok := more[eid]; ok {
			nids[eid] = nid
			return nid, nil
		}
		return 0, fmt.Errorf("state event %s is not stored", eid)
	}
	for _, he := range plan {
		e := he.pdu
		var nid, pos int64
		var err error
		if he.promote {
			nid, pos, err = tx.PromoteOutlierToHistory(ctx, e.EventID())
			if errors.Is(err, store.ErrNotFound) {
				continue // promoted meanwhile by another import
			}
			*promoted = true
		} else {
			rec := record(e, false)
			rec.Backfilled, rec.Rejected = true, he.rejected
			nid, pos, err = tx.InsertEvent(ctx, rec)
			if errors.Is(err, store.ErrExists) {
				continue // stored meanwhile by another import
			}
		}
		if err != nil {
			return err
		}
		nids[e.EventID()] = nid
		group, err := hv.groupFor(ctx, tx, e, he.before, groups, befores, nidOf)
		if err != nil {
			return fmt.Errorf("store state before %s: %w", e.EventID(), err)
		}
		groups[e.EventID()], befores[e.EventID()] = group, he.before
		if err := tx.SetEventState(ctx, nid, group); err != nil {
			return err
		}
		if pos != 0 {
			*stored++
		}
		if target := e.Redacts(); e.Type() == "m.room.redaction" && target != "" && !he.rejected {
			if err := hv.redact(ctx, tx, e, target, he.before); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupFor stores the state before e and returns its group: the group of
// e's first prev event when the state is the same as before that event,
// else a delta against it, else (the prev event's group unknown) a full
// state.
func (hv *historyView) groupFor(ctx context.Context, tx *store.Tx, e *event.PDU, before StateIDs,
	groups map[id.EventID]int64, befores map[id.EventID]StateIDs, nidOf func(id.EventID) (int64, error)) (int64, error) {
	var base int64
	var baseState StateIDs
	for _, p := range e.PrevEvents() {
		if g, ok := groups[p]; ok {
			base, baseState = g, befores[p]
			break
		}
	}
	delta := map[store.StateKey]int64{}
	for k, eid := range before {
		if baseState[k] == eid {
			continue
		}
		nid, err := nidOf(eid)
		if err != nil {
			return 0, err
		}
		delta[store.StateKey{Type: k.Type, StateKey: k.StateKey}] = nid
	}
	for k := range baseState {
		if _, ok := before[k]; !ok {
			delta[store.StateKey{Type: k.Type, StateKey: k.StateKey}] = 0
		}
	}
	if base != 0 && len(delta) == 0 {
		return base, nil
	}
	return tx.StoreStateGroup(ctx, hv.roomID, base, delta)
}

// redact applies a backfilled redaction to its target when its sender may
// redact it: a user of the target sender's server, or one with the redact
// power level in the state before the redaction.
func (hv *historyView) redact(ctx context.Context, tx *store.Tx, redaction *event.PDU, target id.EventID, before StateIDs) error {
	t, err := hv.pdu(ctx, target)
	if err != nil {
		return nil // a target this server does not have: nothing to redact
	}
	if redaction.Sender().Domain() != t.Sender().Domain() {
		var create, pl *event.PDU
		if eid, ok := before[event.StateKey{Type: "m.room.create"}]; ok {
			create, _ = hv.pdu(ctx, eid)
		}
		if eid, ok := before[event.StateKey{Type: "m.room.power_levels"}]; ok {
			pl, _ = hv.pdu(ctx, eid)
		}
		levels := authrules.NewPowerLevels(hv.v, pl, authrules.Creators(create))
		if levels.UserLevel(redaction.Sender()) < levels.Redact() {
			return nil
		}
	}
	return markRedacted(ctx, tx, hv.roomID, target, redaction.EventID())
}

// StoreOutliers stores events of a room that passed the checks on receipt
// 1–4 as outliers: known to the room's graph (as state, auth events or
// the prev events of a gap), never in its timeline. Events stored already
// are left as they are.
func (s *Service) StoreOutliers(ctx context.Context, roomID id.RoomID, pdus []*event.PDU) error {
	if len(pdus) == 0 {
		return nil
	}
	recs := make([]store.EventRecord, len(pdus))
	for i, e := range pdus {
		if e.RoomID() != roomID {
			return fmt.Errorf("store outliers of %s: event %s is of room %s", roomID, e.EventID(), e.RoomID())
		}
		recs[i] = record(e, true)
	}
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.InsertOutliers(ctx, recs)
		return err
	})
	if err != nil {
		return fmt.Errorf("store outliers of %s: %w", roomID, err)
	}
	return nil
}
