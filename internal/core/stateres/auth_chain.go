package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v2/#definitions (Auth chain)

import (
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// The auth chain of an event E is every event reachable from E through
// auth_events, not counting E itself. Within one resolution Hafen names each
// event it meets by a small integer (its index in graph.nodes) and stores the
// auth_events links once, as index slices, so that every later walk is a walk
// over slices instead of over maps of event IDs.

// arenaChunk is how many auth links one arena allocation holds.
const arenaChunk = 4096

// node is one event met during a resolution.
type node struct {
	id  id.EventID
	pdu *event.PDU // nil when the lookup does not know the event

	// auth holds the indices of the event's known auth events, without
	// duplicates. It is valid once expanded is set.
	auth     []int32
	expanded bool
	// rejected is set when Options.Rejected reports the event as rejected.
	rejected bool

	// Marks used by the steps of one resolution.
	common   bool  // in the auth chain of an unconflicted event (auth difference)
	count    int32 // number of state sets whose auth chain holds the event
	stamp    int32 // last walk that visited the event
	full     bool  // in the full conflicted set
	inX      bool  // selected in step 1 (power events and their auth chains)
	local    int32 // index in a step's own slice of events, while that step runs
	mainline int32 // 1 + index in the mainline of P, 0 when not in it
	mpos     int32 // cached mainline position + 2; 0 unknown, 1 being computed
}

// graph interns the events of one resolution and memoizes their auth_events.
type graph struct {
	lookup   EventLookup
	rejected func(id.EventID) bool
	index    map[id.EventID]int32
	nodes    []node
	arena    []int32
	walk     int32 // last stamp handed out by newWalk
}

func newGraph(lookup EventLookup, rejected func(id.EventID) bool, sizeHint int) *graph {
	return &graph{
		lookup:   lookup,
		rejected: rejected,
		index:    make(map[id.EventID]int32, sizeHint),
		nodes:    make([]node, 0, sizeHint),
	}
}

// intern returns the index of the event, looking it up the first time.
func (g *graph) intern(eid id.EventID) int32 {
	if i, ok := g.index[eid]; ok {
		return i
	}
	pdu, ok := g.lookup(eid)
	if !ok {
		pdu = nil
	}
	i := int32(len(g.nodes))
	g.nodes = append(g.nodes, node{id: eid, pdu: pdu})
	if pdu != nil && g.rejected != nil && g.rejected(eid) {
		g.nodes[i].rejected = true
	}
	g.index[eid] = i
	return i
}

// known reports whether the event at index i was found by the lookup.
func (g *graph) known(i int32) bool { return g.nodes[i].pdu != nil }

// authOf returns the indices of the known auth events of event i.
func (g *graph) authOf(i int32) []int32 {
	if g.nodes[i].expanded {
		return g.nodes[i].auth
	}
	g.nodes[i].expanded = true
	pdu := g.nodes[i].pdu
	if pdu == nil {
		return nil
	}
	ids := pdu.AuthEvents()
	if len(ids) == 0 {
		return nil
	}
	if cap(g.arena)-len(g.arena) < len(ids) {
		g.arena = make([]int32, 0, max(arenaChunk, len(ids)))
	}
	start := len(g.arena)
next:
	for _, aid := range ids {
		a := g.intern(aid)
		if g.nodes[a].pdu == nil {
			continue
		}
		for _, b := range g.arena[start:] {
			if b == a {
				continue next
			}
		}
		g.arena = append(g.arena, a)
	}
	auth := g.arena[start:len(g.arena):len(g.arena)]
	g.nodes[i].auth = auth
	return auth
}

// newWalk returns a fresh stamp for marking visited nodes in node.stamp.
func (g *graph) newWalk() int32 {
	g.walk++
	return g.walk
}

// walkAuthChains visits every event in the auth chains of the start events
// (reachable through at least one auth_events link) that has not been
// visited with this stamp, skipping events for which skip returns true
// (their auth chains are skipped too). visit is called once per event.
func (g *graph) walkAuthChains(starts []int32, stamp int32, stack []int32, skip func(*node) bool, visit func(int32)) []int32 {
	stack = stack[:0]
	push := func(i int32) {
		for _, a := range g.authOf(i) {
			n := &g.nodes[a]
			if n.stamp == stamp || (skip != nil && skip(n)) {
				continue
			}
			n.stamp = stamp
			stack = append(stack, a)
		}
	}
	for _, s := range starts {
		push(s)
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		visit(i)
		push(i)
	}
	return stack
}
