package room

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/stateres"
	"github.com/hafenchat/hafen/internal/store"
)

// errStateUnknown means an event's state cannot be computed because an
// event it references is not stored with its state (unknown, an outlier,
// or in another room).
var errStateUnknown = errors.New("state at event unknown")

// dagView is what a batch knows of the room graph beyond its head: the
// state after events (the batch's own and those read from the store) and
// the events read for state resolution. Only events that are not on top of
// the head (forks, late events, more forward extremities than one event may
// reference) need it, so the common case never makes one.
type dagView struct {
	b *batch
	// after is the state after each event the view computed.
	after map[id.EventID]stateMap
	// pdus are events by ID: the batch's and those read from the store.
	pdus map[id.EventID]*event.PDU
	// rejected marks rejected events among pdus.
	rejected map[id.EventID]bool
	// missing are IDs the store does not have.
	missing map[id.EventID]bool
	// supplied are states after prev events this server does not have
	// with their state, fetched from another server
	// (ProcessRemoteWithStates).
	supplied map[id.EventID]StateIDs
}

func (b *batch) dagView() *dagView {
	if b.dag == nil {
		b.dag = &dagView{
			b:        b,
			after:    map[id.EventID]stateMap{},
			pdus:     map[id.EventID]*event.PDU{},
			rejected: map[id.EventID]bool{},
			missing:  map[id.EventID]bool{},
		}
	}
	return b.dag
}

// recordAfter records the state after pdu, given the state before it, and
// returns it. A rejected event leaves the state as it was.
func (d *dagView) recordAfter(pdu *event.PDU, before stateMap) stateMap {
	after := before
	if pdu.IsState() && !d.rejected[pdu.EventID()] {
		after = maps.Clone(before)
		after[pdu.StateKeyTuple()] = pdu
	}
	d.after[pdu.EventID()] = after
	d.pdus[pdu.EventID()] = pdu
	return after
}

// reject marks a batch event rejected.
func (d *dagView) reject(pdu *event.PDU) {
	d.rejected[pdu.EventID()] = true
	d.pdus[pdu.EventID()] = pdu
}

// stateBefore returns the state before an event whose prev_events are
// prevs: the state after the one prev event, or the resolution of the
// states after each.
func (d *dagView) stateBefore(prevs []id.EventID) (stateMap, error) {
	sets := make([]stateMap, 0, len(prevs))
	for _, p := range prevs {
		st, err := d.stateAfter(p)
		if err != nil {
			return nil, err
		}
		sets = append(sets, st)
	}
	if len(sets) == 1 {
		return sets[0], nil
	}
	return d.resolve(sets)
}

// stateAfter returns the state after an event of the room.
func (d *dagView) stateAfter(eid id.EventID) (stateMap, error) {
	if st, ok := d.after[eid]; ok {
		return st, nil
	}
	o := d.b.o
	if len(o.extremities) == 1 && o.extremities[0].EventID() == eid {
		// The one forward extremity: the state after it is the current
		// state.
		st := o.current()
		d.after[eid] = st
		return st, nil
	}
	ctx, db := d.b.ctx, d.b.s.db
	evs, err := db.EventsByID(ctx, []id.EventID{eid})
	if err != nil {
		return nil, fmt.Errorf("load event %s: %w", eid, err)
	}
	if len(evs) == 0 || evs[0].RoomID != d.b.roomID {
		return d.suppliedState(eid, fmt.Errorf("%w: %s is not stored", errStateUnknown, eid))
	}
	e := evs[0]
	group, err := db.StateGroupBeforeEvent(ctx, e.NID)
	if errors.Is(err, store.ErrNotFound) {
		return d.suppliedState(eid, fmt.Errorf("%w: %s is stored without its state", errStateUnknown, eid))
	}
	if err != nil {
		return nil, err
	}
	nids, err := db.StateAtGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	list := make([]int64, 0, len(nids))
	for _, nid := range nids {
		list = append(list, nid)
	}
	stored, err := db.EventsByNID(ctx, list)
	if err != nil {
		return nil, err
	}
	st := make(stateMap, len(stored)+1)
	for _, se := range stored {
		pdu, err := d.remember(se)
		if err != nil {
			return nil, err
		}
		st[pdu.StateKeyTuple()] = pdu
	}
	self, err := d.remember(e)
	if err != nil {
		return nil, err
	}
	if self.IsState() && !e.Rejected {
		st[self.StateKeyTuple()] = self
	}
	d.after[eid] = st
	return st, nil
}

// suppliedState returns the state after eid fetched from another server,
// if one was supplied, and otherwise err.
func (d *dagView) suppliedState(eid id.EventID, err error) (stateMap, error) {
	ids, ok := d.supplied[eid]
	if !ok {
		return nil, err
	}
	st := make(stateMap, len(ids))
	for k, sid := range ids {
		pdu, ok := d.lookup(sid)
		if !ok {
			return nil, fmt.Errorf("%w: state event %s after %s is not stored", errStateUnknown, sid, eid)
		}
		st[k] = pdu
	}
	d.after[eid] = st
	return st, nil
}

// remember parses a stored event into the view's cache.
func (d *dagView) remember(se store.Event) (*event.PDU, error) {
	if pdu, ok := d.pdus[se.EventID]; ok {
		return pdu, nil
	}
	pdu, err := parseStored(se, d.b.v)
	if err != nil {
		return nil, err
	}
	d.pdus[se.EventID] = pdu
	if se.Rejected {
		d.rejected[se.EventID] = true
	}
	return pdu, nil
}

// lookup returns an event of the room by ID, rejected or not, from the
// batch or the store.
func (d *dagView) lookup(eid id.EventID) (*event.PDU, bool) {
	if pdu, ok := d.pdus[eid]; ok {
		return pdu, true
	}
	if d.missing[eid] {
		return nil, false
	}
	evs, err := d.b.s.db.EventsByID(d.b.ctx, []id.EventID{eid})
	if err != nil || len(evs) == 0 || evs[0].RoomID != d.b.roomID {
		d.missing[eid] = true
		return nil, false
	}
	pdu, err := d.remember(evs[0])
	if err != nil {
		d.missing[eid] = true
		return nil, false
	}
	return pdu, true
}

// unknownAuthEvent returns an auth event of e (or, in room versions whose
// room ID names it, its create event) that is neither stored nor in the
// batch, accepted or rejected; "" if there is none.
func (d *dagView) unknownAuthEvent(e *event.PDU) id.EventID {
	ids := e.AuthEvents()
	if e.Version().RoomIDFromCreateEvent && e.Type() != "m.room.create" {
		ids = append(slices.Clone(ids), id.EventID("$"+string(e.RoomID())[1:]))
	}
	for _, aid := range ids {
		if _, ok := d.lookup(aid); !ok {
			return aid
		}
	}
	return ""
}

// lookupAccepted is lookup without rejected events, as the checks on
// receipt want their auth events.
func (d *dagView) lookupAccepted(eid id.EventID) (*event.PDU, bool) {
	pdu, ok := d.lookup(eid)
	if !ok || d.rejected[eid] {
		return nil, false
	}
	return pdu, true
}

// resolve resolves states with the room version's state resolution.
func (d *dagView) resolve(sets []stateMap) (stateMap, error) {
	idSets := make([]map[event.StateKey]id.EventID, len(sets))
	for i, st := range sets {
		m := make(map[event.StateKey]id.EventID, len(st))
		for k, pdu := range st {
			m[k] = pdu.EventID()
			if _, ok := d.pdus[pdu.EventID()]; !ok {
				d.pdus[pdu.EventID()] = pdu
			}
		}
		idSets[i] = m
	}
	res, err := stateres.ResolveWithOptions(d.b.v, idSets, d.lookup, stateres.Options{
		Rejected: func(eid id.EventID) bool { return d.rejected[eid] },
	})
	if err != nil {
		return nil, fmt.Errorf("resolve state of %s: %w", d.b.roomID, err)
	}
	out := make(stateMap, len(res))
	for k, eid := range res {
		pdu, ok := d.lookup(eid)
		if !ok {
			return nil, fmt.Errorf("resolve state of %s: resolved event %s is unknown", d.b.roomID, eid)
		}
		out[k] = pdu
	}
	return out, nil
}
