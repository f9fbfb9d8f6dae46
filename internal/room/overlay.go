package room

import (
	"maps"
	"math"
	"slices"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// stateMap is a full room state by key.
type stateMap map[event.StateKey]*event.PDU

func (m stateMap) get(k event.StateKey) *event.PDU { return m[k] }

// stateReader reads one entry of a room state.
type stateReader interface {
	get(k event.StateKey) *event.PDU
}

// overlay is a room head plus the changes of a batch that is not yet
// committed. Reading through it sees the batch's earlier events; the real
// head is only changed by commit, after the transaction succeeded.
type overlay struct {
	base *roomState
	// state holds the batch's changes to the current state; a nil entry
	// removes the key.
	state       map[event.StateKey]*event.PDU
	extremities []*event.PDU // deepest first
}

func newOverlay(rs *roomState) *overlay {
	return &overlay{base: rs, state: map[event.StateKey]*event.PDU{}, extremities: rs.extremities}
}

func (o *overlay) get(k event.StateKey) *event.PDU {
	if ev, ok := o.state[k]; ok {
		return ev
	}
	if o.base.state == nil {
		return nil
	}
	return o.base.state[k]
}

// current returns a copy of the whole current state as the batch left it.
func (o *overlay) current() stateMap {
	out := make(stateMap, len(o.base.state)+len(o.state))
	maps.Copy(out, o.base.state)
	for k, ev := range o.state {
		if ev == nil {
			delete(out, k)
		} else {
			out[k] = ev
		}
	}
	return out
}

// setCurrent replaces the current state by st, recording only what
// differs.
func (o *overlay) setCurrent(st stateMap) {
	cur := o.current()
	for k, ev := range st {
		if c := cur[k]; c == nil || c.EventID() != ev.EventID() {
			o.state[k] = ev
		}
	}
	for k := range cur {
		if _, ok := st[k]; !ok {
			o.state[k] = nil
		}
	}
}

// prevEvents returns the prev_events of the next local event: the
// maxPrevEvents deepest forward extremities.
func (o *overlay) prevEvents() []*event.PDU {
	if len(o.extremities) <= maxPrevEvents {
		return o.extremities
	}
	return o.extremities[:maxPrevEvents]
}

// coversExtremities reports whether prevs are exactly the forward
// extremities, in which case the state before an event with these
// prev_events is the current state.
func (o *overlay) coversExtremities(prevs []id.EventID) bool {
	if len(prevs) != len(o.extremities) {
		return false
	}
	for _, e := range o.extremities {
		if !slices.Contains(prevs, e.EventID()) {
			return false
		}
	}
	return true
}

// applyLinear moves the head past pdu, an accepted event whose prev_events
// are all the forward extremities.
func (o *overlay) applyLinear(pdu *event.PDU) {
	if pdu.IsState() {
		o.state[pdu.StateKeyTuple()] = pdu
	}
	o.extremities = []*event.PDU{pdu}
}

// extremitiesAfter returns the forward extremities once pdu, an accepted
// event, is added: those it does not reference, plus itself.
func (o *overlay) extremitiesAfter(pdu *event.PDU) []*event.PDU {
	prevs := pdu.PrevEvents()
	out := make([]*event.PDU, 0, len(o.extremities)+1)
	for _, e := range o.extremities {
		if !slices.Contains(prevs, e.EventID()) {
			out = append(out, e)
		}
	}
	out = append(out, pdu)
	sortExtremities(out)
	return out
}

// depthAfter returns the depth of an event with prev_events prevs: the
// largest of their depths plus one, held at the largest integer once a
// room reaches it.
func depthAfter(prevs []*event.PDU) int64 {
	var d int64
	for _, p := range prevs {
		d = max(d, p.Depth())
	}
	if d == math.MaxInt64 {
		return d
	}
	return d + 1
}
