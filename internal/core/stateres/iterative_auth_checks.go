package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#definitions (Iterative auth checks)
// Spec: https://spec.matrix.org/v1.19/rooms/v2/#rejected-events

import (
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
)

// partialState is the room state the iterative auth checks build: the
// events they applied, over an optional base (the unconflicted state map in
// v2; none in v2.1, which starts from the empty state map).
type partialState struct {
	applied map[event.StateKey]int32
	base    *stateSplit // nil: the state started empty
}

// get returns the event the state holds for k, or false.
func (s *partialState) get(r *resolver, k event.StateKey) (int32, bool) {
	if i, ok := s.applied[k]; ok {
		return i, true
	}
	if s.base != nil {
		if e, ok := s.base.unconflicted(k); ok {
			return r.g.intern(e), true
		}
	}
	return -1, false
}

// iterativeAuthChecks applies each event of the sorted list to the state if
// the authorization rules allow it against the state, and ignores it
// otherwise. The auth state of an event is built from its own (known, not
// rejected) auth events, overridden by the state's event for every key the
// event's auth needs; an event of the state that was rejected is not used.
// In rooms whose create event is not in auth_events (v12), the create event
// found through the room ID is added.
func (r *resolver) iterativeAuthChecks(events []int32, st *partialState) {
	g := r.g
	if r.authState == nil {
		r.authState = make(authrules.StateMap, 8)
	}
	as := r.authState
	for _, i := range events {
		pdu := g.nodes[i].pdu
		if pdu == nil || !pdu.IsState() {
			continue
		}
		clear(as)
		for _, a := range g.authOf(i) {
			an := &g.nodes[a]
			if an.rejected || !an.pdu.IsState() {
				continue
			}
			as[an.pdu.StateKeyTuple()] = an.pdu
		}
		if r.v.RoomIDFromCreateEvent && !pdu.IsStateKey(authrules.TypeCreate, "") {
			if c := r.createOf(pdu); c >= 0 && !g.nodes[c].rejected {
				as[keyCreate] = g.nodes[c].pdu
			}
		}
		sk, _ := pdu.StateKey()
		needed, err := authrules.NeededStateKeys(r.v, pdu.Type(), &sk, pdu.Sender(), pdu.Content())
		if err != nil {
			// Content the auth rules cannot read: the event is not allowed.
			continue
		}
		for _, k := range needed {
			if j, ok := st.get(r, k); ok {
				if jn := &g.nodes[j]; jn.pdu != nil && !jn.rejected {
					as[k] = jn.pdu
				}
			}
		}
		if authrules.Check(pdu, as) == nil {
			st.applied[pdu.StateKeyTuple()] = i
		}
	}
}
