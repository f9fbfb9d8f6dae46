package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#definitions (Power events,
// Reverse topological power ordering)
// Spec: https://spec.matrix.org/v1.19/rooms/v2/#algorithm (step 1)

import (
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
)

// isPowerEvent reports whether the event is a power event: a state event of
// type m.room.power_levels or m.room.join_rules, or an m.room.member event
// with membership leave or ban whose sender is not its state_key.
func (r *resolver) isPowerEvent(i int32) bool {
	pdu := r.g.nodes[i].pdu
	sk, ok := pdu.StateKey()
	if !ok {
		return false
	}
	switch pdu.Type() {
	case authrules.TypePowerLevels, authrules.TypeJoinRules:
		return sk == ""
	case authrules.TypeCreate:
		// NOTSPEC: the spec's list of power events omits m.room.create.
		// Synapse and Ruma count it, so that a conflicted create event is
		// sorted (it has no auth events, so it always comes first) and
		// checked before the events that need it. Hafen does the same so
		// that all three converge.
		return sk == ""
	case authrules.TypeMember:
		if sk == string(pdu.Sender()) {
			return false
		}
		m := authrules.Membership(pdu.Content())
		return m == "leave" || m == "ban"
	}
	return false
}

// selectPowerEvents is step 1's selection: the power events of the full
// conflicted set, enlarged by the events of their auth chains that are also
// in the full conflicted set. It marks them inX.
//
// NOTSPEC: the walk from a power event follows auth_events only through
// events of the full conflicted set, as Synapse and Ruma do. The spec's
// "auth chain of P which also belong to the full conflicted set" would also
// take in a conflicted event that is reachable from P only through an event
// outside the full conflicted set; Hafen follows the implementations that
// rooms already depend on.
func (r *resolver) selectPowerEvents(full []int32) []int32 {
	g := r.g
	var xs, stack []int32
	for _, i := range full {
		if g.nodes[i].inX || !r.isPowerEvent(i) {
			continue
		}
		g.nodes[i].inX = true
		xs = append(xs, i)
		stack = append(stack[:0], i)
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, a := range g.authOf(j) {
				n := &g.nodes[a]
				if n.full && !n.inX {
					n.inX = true
					xs = append(xs, a)
					stack = append(stack, a)
				}
			}
		}
	}
	return xs
}

// senderPower returns the power level of the event's sender as the event's
// own auth_events give it (authrules.PowerLevels.UserLevel): from the
// m.room.power_levels event among them, or, when there is none, 100 for the
// room creator and 0 for everyone else. In rooms with privileged creators
// (v12+) creators have authrules.Infinite.
func (r *resolver) senderPower(i int32) int64 {
	g := r.g
	pdu := g.nodes[i].pdu
	pl, create := int32(-1), int32(-1)
	for _, a := range g.authOf(i) {
		ap := g.nodes[a].pdu
		if pl < 0 && ap.IsStateKey(authrules.TypePowerLevels, "") {
			pl = a
		} else if create < 0 && ap.IsStateKey(authrules.TypeCreate, "") {
			create = a
		}
	}
	if r.v.RoomIDFromCreateEvent {
		create = r.createOf(pdu)
	}
	return r.powerLevelsOf(pl, create).UserLevel(pdu.Sender())
}

// powerSort orders the selected power events by the reverse topological
// power ordering: Kahn's algorithm over the auth_events links inside the
// set, taking at each step the smallest ready event by (greater sender power
// level, then smaller origin_server_ts, then smaller event ID).
func (r *resolver) powerSort(xs []int32) ([]int32, error) {
	g := r.g
	n := len(xs)
	for k, i := range xs {
		g.nodes[i].local = int32(k)
	}
	// pending[k]: auth events of xs[k] not yet output. Citers of xs[k] are
	// citers[start[k]:start[k+1]].
	pending := make([]int32, n)
	start := make([]int32, n+1)
	for k, i := range xs {
		for _, a := range g.authOf(i) {
			if g.nodes[a].inX {
				pending[k]++
				start[g.nodes[a].local+1]++
			}
		}
	}
	for k := 1; k <= n; k++ {
		start[k] += start[k-1]
	}
	fill := append([]int32(nil), start[:n]...)
	citers := make([]int32, start[n])
	for k, i := range xs {
		for _, a := range g.nodes[i].auth {
			if g.nodes[a].inX {
				l := g.nodes[a].local
				citers[fill[l]] = int32(k)
				fill[l]++
			}
		}
	}
	power := make([]int64, n)
	for k, i := range xs {
		power[k] = r.senderPower(i)
	}
	h := localHeap{less: func(a, b int32) bool {
		if power[a] != power[b] {
			return power[a] > power[b]
		}
		pa, pb := g.nodes[xs[a]].pdu, g.nodes[xs[b]].pdu
		if ta, tb := pa.OriginServerTS(), pb.OriginServerTS(); ta != tb {
			return ta < tb
		}
		return pa.EventID() < pb.EventID()
	}}
	h.items = make([]int32, 0, n)
	for k := range xs {
		if pending[k] == 0 {
			h.push(int32(k))
		}
	}
	sorted := make([]int32, 0, n)
	for len(h.items) > 0 {
		k := h.pop()
		sorted = append(sorted, xs[k])
		for _, c := range citers[start[k]:start[k+1]] {
			pending[c]--
			if pending[c] == 0 {
				h.push(c)
			}
		}
	}
	if len(sorted) != n {
		return nil, fmt.Errorf("%w: %d of %d power events are on a cycle", ErrAuthCycle, n-len(sorted), n)
	}
	return sorted, nil
}

// localHeap is a binary min-heap of local indices under less.
type localHeap struct {
	items []int32
	less  func(a, b int32) bool
}

func (h *localHeap) push(x int32) {
	h.items = append(h.items, x)
	c := len(h.items) - 1
	for c > 0 {
		p := (c - 1) / 2
		if !h.less(h.items[c], h.items[p]) {
			break
		}
		h.items[c], h.items[p] = h.items[p], h.items[c]
		c = p
	}
}

func (h *localHeap) pop() int32 {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	p := 0
	for {
		l := 2*p + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[p]) {
			break
		}
		h.items[p], h.items[m] = h.items[m], h.items[p]
		p = m
	}
	return top
}
