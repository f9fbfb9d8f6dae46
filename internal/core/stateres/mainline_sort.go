package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#definitions (Mainline ordering)
// Spec: https://spec.matrix.org/v1.19/rooms/v2/#algorithm (step 3)

import (
	"cmp"
	"math"
	"slices"

	"github.com/hafenchat/hafen/internal/core/authrules"
)

// positionInfinite is the mainline position of an event whose power levels
// chain never meets the mainline: greater than any real position.
const positionInfinite = math.MaxInt32 - 2

// powerLevelsAuthOf returns the m.room.power_levels event among the auth
// events of event i, or -1.
func (r *resolver) powerLevelsAuthOf(i int32) int32 {
	for _, a := range r.g.authOf(i) {
		if r.g.nodes[a].pdu.IsStateKey(authrules.TypePowerLevels, "") {
			return a
		}
	}
	return -1
}

// mainlineSort orders events by the mainline ordering based on the power
// levels event p0 (-1 when the partially resolved state has none): by
// greater mainline position, then smaller origin_server_ts, then smaller
// event ID.
func (r *resolver) mainlineSort(events []int32, p0 int32) []int32 {
	g := r.g
	// The mainline of p0: p0, the power levels event in p0's auth events,
	// and so on. node.mainline holds 1 + the index i of Pᵢ.
	length := int32(0)
	for p := p0; p >= 0 && g.nodes[p].mainline == 0; p = r.powerLevelsAuthOf(p) {
		length++
		g.nodes[p].mainline = length
	}
	pos := make([]int32, len(events))
	for k, e := range events {
		pos[k] = r.mainlinePosition(e)
		g.nodes[e].local = int32(k)
	}
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b int32) int {
		na, nb := &g.nodes[a], &g.nodes[b]
		if c := cmp.Compare(pos[nb.local], pos[na.local]); c != 0 {
			return c
		}
		if c := cmp.Compare(na.pdu.OriginServerTS(), nb.pdu.OriginServerTS()); c != 0 {
			return c
		}
		return cmp.Compare(na.id, nb.id)
	})
	return sorted
}

// mainlinePosition returns the mainline position of event e: the index i of
// the first event eⱼ (j ≥ 1) of e's power levels chain [e₁, e₂, …] that is
// the mainline event Pᵢ, or positionInfinite. Positions are memoized on the
// power levels events of the chain, so each is computed once.
func (r *resolver) mainlinePosition(e int32) int32 {
	g := r.g
	var chain []int32
	p := r.powerLevelsAuthOf(e)
	var result int32
	for {
		if p < 0 {
			result = positionInfinite
			break
		}
		n := &g.nodes[p]
		if n.mainline > 0 {
			result = n.mainline - 1
			break
		}
		if n.mpos == 1 {
			// A cycle in auth_events that never meets the mainline.
			result = positionInfinite
			break
		}
		if n.mpos > 1 {
			result = n.mpos - 2
			break
		}
		n.mpos = 1
		chain = append(chain, p)
		p = r.powerLevelsAuthOf(p)
	}
	for _, c := range chain {
		g.nodes[c].mpos = result + 2
	}
	return result
}
