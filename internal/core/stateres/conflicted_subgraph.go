package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v12/#definitions (Conflicted
// state subgraph, added in v12 / state resolution v2.1, MSC4297)

// conflictedSubgraph returns the conflicted state subgraph: the union of all
// auth_events paths between two events of the conflicted state set,
// endpoints included. An event lies on such a path exactly when it can be
// reached from a conflicted event (following auth_events) and can itself
// reach a conflicted event. Hafen computes the first set with a forward walk
// and the second with a backward walk over the edges inside it, so each
// event and link is visited at most twice.
func (r *resolver) conflictedSubgraph(conflicted []int32) []int32 {
	g := r.g
	// Forward: everything reachable from the conflicted events.
	down := make([]int32, 0, len(conflicted)*4)
	fwd := g.newWalk()
	for _, c := range conflicted {
		if g.nodes[c].stamp != fwd {
			g.nodes[c].stamp = fwd
			down = append(down, c)
		}
	}
	for k := 0; k < len(down); k++ {
		for _, a := range g.authOf(down[k]) {
			if g.nodes[a].stamp != fwd {
				g.nodes[a].stamp = fwd
				down = append(down, a)
			}
		}
	}
	for k, i := range down {
		g.nodes[i].local = int32(k)
	}
	// Reverse edges inside the forward set, as compressed rows: the events
	// citing down[k] are citers[start[k]:start[k+1]].
	start := make([]int32, len(down)+1)
	for _, i := range down {
		for _, a := range g.nodes[i].auth {
			start[g.nodes[a].local+1]++
		}
	}
	for k := 1; k < len(start); k++ {
		start[k] += start[k-1]
	}
	fill := append([]int32(nil), start[:len(down)]...)
	citers := make([]int32, start[len(down)])
	for _, i := range down {
		for _, a := range g.nodes[i].auth {
			l := g.nodes[a].local
			citers[fill[l]] = i
			fill[l]++
		}
	}
	// Backward: everything in the forward set that reaches a conflicted
	// event.
	bwd := g.newWalk()
	sub := make([]int32, 0, len(conflicted))
	for _, c := range conflicted {
		if g.nodes[c].stamp != bwd {
			g.nodes[c].stamp = bwd
			sub = append(sub, c)
		}
	}
	for k := 0; k < len(sub); k++ {
		l := g.nodes[sub[k]].local
		for _, p := range citers[start[l]:start[l+1]] {
			if g.nodes[p].stamp != bwd {
				g.nodes[p].stamp = bwd
				sub = append(sub, p)
			}
		}
	}
	return sub
}
