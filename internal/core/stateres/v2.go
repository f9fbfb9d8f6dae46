package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#algorithm
// Spec: https://spec.matrix.org/v1.19/rooms/v12/#algorithm

import (
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// resolver holds what one call of the v2 or v2.1 algorithm computes and
// caches: interned events, parsed power levels and creators.
type resolver struct {
	v    *roomversion.Version
	opts Options
	g    *graph

	levels   map[levelsKey]*authrules.PowerLevels
	creators map[int32][]id.UserID

	// The create event of the last room ID asked for (v12), -1 if unknown.
	createRoom id.RoomID
	createIdx  int32

	authState authrules.StateMap // reused by the iterative auth checks
}

func newResolver(v *roomversion.Version, lookup EventLookup, opts Options, sizeHint int) *resolver {
	return &resolver{
		v:         v,
		opts:      opts,
		g:         newGraph(lookup, opts.Rejected, sizeHint),
		levels:    map[levelsKey]*authrules.PowerLevels{},
		creators:  map[int32][]id.UserID{},
		createIdx: -1,
	}
}

// createOf returns the create event of the event's room in room versions
// whose room ID is derived from the create event ID (v12): "!x" names the
// create event "$x". It returns -1 when the lookup does not know it.
func (r *resolver) createOf(pdu *event.PDU) int32 {
	room := pdu.RoomID()
	if room == r.createRoom && r.createRoom != "" {
		return r.createIdx
	}
	r.createRoom, r.createIdx = room, -1
	if len(room) < 2 || room[0] != '!' {
		return -1
	}
	c := r.g.intern(id.EventID("$" + string(room[1:])))
	if n := &r.g.nodes[c]; n.pdu != nil && n.pdu.IsStateKey(authrules.TypeCreate, "") {
		r.createIdx = c
	}
	return r.createIdx
}

// resolveV2 runs state resolution v2 (rooms v2–v11) or v2.1 (room v12).
func resolveV2(v *roomversion.Version, sets []map[event.StateKey]id.EventID, lookup EventLookup, opts Options) (map[event.StateKey]id.EventID, error) {
	sp := splitStateSets(sets)
	if len(sp.keys) == 0 {
		return unconflictedResult(sp, 0), nil
	}
	r := newResolver(v, lookup, opts, len(sp.first)+len(sp.keys)*len(sets))
	g := r.g

	// Conflicted state set, auth difference and (v2.1) conflicted state
	// subgraph make up the full conflicted set. Events the lookup does not
	// know are left out: they cannot be checked.
	perSet := sp.conflictedEvents(g, sets)
	var full []int32
	addFull := func(i int32) {
		if n := &g.nodes[i]; !n.full && n.pdu != nil {
			n.full = true
			full = append(full, i)
		}
	}
	var conflicted []int32
	for _, evs := range perSet {
		for _, i := range evs {
			if !g.nodes[i].full {
				addFull(i)
				conflicted = append(conflicted, i)
			}
		}
	}
	for _, i := range r.authDifference(sets, sp, perSet) {
		addFull(i)
	}
	if v.StateRes == roomversion.StateResV2_1 {
		for _, i := range r.conflictedSubgraph(conflicted) {
			addFull(i)
		}
	}

	// Step 1: power events and their auth chains within the full conflicted
	// set, in reverse topological power ordering.
	xs := r.selectPowerEvents(full)
	sortedPower, err := r.powerSort(xs)
	if err != nil {
		return nil, err
	}

	// Step 2: iterative auth checks from the unconflicted state map (v2) or
	// from the empty state map (v2.1).
	st := &partialState{applied: make(map[event.StateKey]int32, len(full))}
	if v.StateRes == roomversion.StateResV2 {
		st.base = sp
	}
	r.iterativeAuthChecks(sortedPower, st)

	// Step 3: the remaining events in mainline order of the partially
	// resolved state's power levels.
	remaining := make([]int32, 0, len(full)-len(xs))
	for _, i := range full {
		if !g.nodes[i].inX {
			remaining = append(remaining, i)
		}
	}
	p0, ok := st.get(r, keyPowerLevels)
	if !ok || !g.known(p0) {
		p0 = -1
	}
	sortedRest := r.mainlineSort(remaining, p0)

	// Step 4: iterative auth checks on the partially resolved state.
	r.iterativeAuthChecks(sortedRest, st)

	// Step 5: the unconflicted state map wins over the resolved events.
	out := unconflictedResult(sp, len(st.applied))
	for k, i := range st.applied {
		if _, unconflicted := sp.unconflicted(k); !unconflicted {
			out[k] = g.nodes[i].id
		}
	}
	return out, nil
}

// unconflictedResult returns a new map holding the unconflicted state map,
// with room for extra more entries.
func unconflictedResult(sp *stateSplit, extra int) map[event.StateKey]id.EventID {
	out := make(map[event.StateKey]id.EventID, max(0, len(sp.first)-len(sp.conflicted))+extra)
	for k, e := range sp.first {
		if _, c := sp.conflicted[k]; !c {
			out[k] = e
		}
	}
	return out
}
