package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#definitions (Unconflicted
// state map and conflicted state set)

import (
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// stateSplit divides the state sets into the unconflicted state map and the
// conflicted state set. A key K is unconflicted when every state set maps K
// to the same event; the unconflicted state map is therefore the part of the
// first state set whose keys are not conflicted, and is not copied.
type stateSplit struct {
	first map[event.StateKey]id.EventID
	// conflicted holds the conflicted keys; keys lists them in the order
	// they were found.
	conflicted map[event.StateKey]struct{}
	keys       []event.StateKey
}

// splitStateSets computes the unconflicted state map and the conflicted
// keys of two or more state sets (v2 and v2.1 definition: a key missing
// from some state set is conflicted).
func splitStateSets(sets []map[event.StateKey]id.EventID) *stateSplit {
	sp := &stateSplit{first: sets[0], conflicted: map[event.StateKey]struct{}{}}
	add := func(k event.StateKey) {
		if _, ok := sp.conflicted[k]; !ok {
			sp.conflicted[k] = struct{}{}
			sp.keys = append(sp.keys, k)
		}
	}
	// hits[j] counts the keys of the first set that set j also has; when it
	// equals len(set j), set j has no key the first set lacks.
	hits := make([]int, len(sets))
	for k, e := range sp.first {
		same := true
		for j := 1; j < len(sets); j++ {
			f, ok := sets[j][k]
			if ok {
				hits[j]++
			}
			if !ok || f != e {
				same = false
			}
		}
		if !same {
			add(k)
		}
	}
	for j := 1; j < len(sets); j++ {
		if hits[j] == len(sets[j]) {
			continue
		}
		for k := range sets[j] {
			if _, ok := sp.first[k]; !ok {
				add(k)
			}
		}
	}
	return sp
}

// unconflicted returns the unconflicted state map's event for k.
func (sp *stateSplit) unconflicted(k event.StateKey) (id.EventID, bool) {
	if _, ok := sp.conflicted[k]; ok {
		return "", false
	}
	e, ok := sp.first[k]
	return e, ok
}

// conflictedEvents returns, for each state set, the events of the
// conflicted state set it holds, interned in g.
func (sp *stateSplit) conflictedEvents(g *graph, sets []map[event.StateKey]id.EventID) [][]int32 {
	perSet := make([][]int32, len(sets))
	buf := make([]int32, 0, len(sets)*len(sp.keys))
	for j, s := range sets {
		start := len(buf)
		for _, k := range sp.keys {
			if e, ok := s[k]; ok {
				buf = append(buf, g.intern(e))
			}
		}
		perSet[j] = buf[start:len(buf):len(buf)]
	}
	return perSet
}
