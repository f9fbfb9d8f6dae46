package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#definitions (Auth difference)

import (
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// authDifference returns the auth difference ∪Cᵢ − ∩Cᵢ, where Cᵢ is the full
// auth chain of state set i: the union of the auth chains of its events.
//
// Every state set holds the whole unconflicted state map, so the auth chains
// of the unconflicted events (the common part U) lie in every Cᵢ. Hafen
// walks U once, then walks from each set's conflicted events only through
// events outside U (everything below an event of U is in U too), and counts
// in how many Cᵢ each remaining event lies. The result is exactly the
// spec's difference, computed in one pass over the auth DAG plus one pass per
// fork.
func (r *resolver) authDifference(sets []map[event.StateKey]id.EventID, sp *stateSplit, perSet [][]int32) []int32 {
	if r.opts.AuthChains != nil {
		return r.authDifferenceFromChains()
	}
	g := r.g
	starts := make([]int32, 0, len(sp.first))
	for k, e := range sp.first {
		if _, ok := sp.conflicted[k]; !ok {
			starts = append(starts, g.intern(e))
		}
	}
	var stack []int32
	stack = g.walkAuthChains(starts, g.newWalk(), stack, nil, func(i int32) {
		g.nodes[i].common = true
	})
	var touched []int32
	notCommon := func(n *node) bool { return n.common }
	for j := range sets {
		stack = g.walkAuthChains(perSet[j], g.newWalk(), stack, notCommon, func(i int32) {
			n := &g.nodes[i]
			if n.count == 0 {
				touched = append(touched, i)
			}
			n.count++
		})
	}
	diff := touched[:0]
	for _, i := range touched {
		if int(g.nodes[i].count) < len(sets) {
			diff = append(diff, i)
		}
	}
	return diff
}

// authDifferenceFromChains computes the auth difference from the auth chains
// the caller passed in Options.AuthChains.
func (r *resolver) authDifferenceFromChains() []int32 {
	g := r.g
	var touched []int32
	for _, chain := range r.opts.AuthChains {
		stamp := g.newWalk()
		for _, eid := range chain {
			i := g.intern(eid)
			n := &g.nodes[i]
			if n.stamp == stamp {
				continue
			}
			n.stamp = stamp
			if n.count == 0 {
				touched = append(touched, i)
			}
			n.count++
		}
	}
	diff := touched[:0]
	for _, i := range touched {
		if int(g.nodes[i].count) < len(r.opts.AuthChains) {
			diff = append(diff, i)
		}
	}
	return diff
}
