package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v1/#state-resolution

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"slices"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// v1Event is a conflicted event of a v1 resolution with its sort keys.
type v1Event struct {
	pdu   *event.PDU
	depth int64
	sha   [sha1.Size]byte
}

// v1Resolver holds the state R that the v1 algorithm builds up.
type v1Resolver struct {
	v      *roomversion.Version
	lookup EventLookup
	// unconflicted is R's starting point; resolved holds the conflicts
	// resolved so far, which take precedence.
	unconflicted map[event.StateKey]id.EventID
	resolved     map[event.StateKey]*event.PDU
	authState    authrules.StateMap
}

// resolveV1 runs the state resolution algorithm of room version 1.
//
// In v1 a conflict is two state sets naming different events for the same
// key; a key that only some state sets have is not a conflict, and R starts
// as the union of the states without the conflicting events.
func resolveV1(v *roomversion.Version, sets []map[event.StateKey]id.EventID, lookup EventLookup) (map[event.StateKey]id.EventID, error) {
	out := make(map[event.StateKey]id.EventID, len(sets[0]))
	conflictIDs := map[event.StateKey][]id.EventID{}
	for _, s := range sets {
		for k, e := range s {
			if ids, ok := conflictIDs[k]; ok {
				if !slices.Contains(ids, e) {
					conflictIDs[k] = append(ids, e)
				}
				continue
			}
			if cur, ok := out[k]; ok {
				if cur != e {
					conflictIDs[k] = []id.EventID{cur, e}
					delete(out, k)
				}
				continue
			}
			out[k] = e
		}
	}
	if len(conflictIDs) == 0 {
		return out, nil
	}

	// Events the lookup does not know cannot be checked and are left out;
	// a key left with one event is no longer conflicted.
	conflicts := map[event.StateKey][]v1Event{}
	var keys []event.StateKey
	for k, ids := range conflictIDs {
		var evs []v1Event
		for _, e := range ids {
			if pdu, ok := lookup(e); ok {
				evs = append(evs, v1Event{pdu: pdu, depth: pdu.Depth(), sha: sha1.Sum([]byte(e))})
			}
		}
		switch len(evs) {
		case 0:
		case 1:
			out[k] = evs[0].pdu.EventID()
		default:
			conflicts[k] = evs
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b event.StateKey) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.StateKey, b.StateKey))
	})

	r := &v1Resolver{v: v, lookup: lookup, unconflicted: out, resolved: map[event.StateKey]*event.PDU{}, authState: authrules.StateMap{}}
	// The passes in the order the spec prescribes: power levels, then join
	// rules, then members, then everything else. Within a pass every key is
	// resolved against R as it stood when the pass began, and R is updated
	// when the pass ends, so the result does not depend on key order (as in
	// Synapse).
	passes := []func(event.StateKey) bool{
		func(k event.StateKey) bool { return k == keyPowerLevels },
		func(k event.StateKey) bool { return k.Type == authrules.TypeJoinRules },
		func(k event.StateKey) bool { return k.Type == authrules.TypeMember },
	}
	done := map[event.StateKey]bool{}
	for _, inPass := range passes {
		picked := map[event.StateKey]*event.PDU{}
		for _, k := range keys {
			if !done[k] && inPass(k) {
				picked[k] = r.resolveAuthEvents(k, conflicts[k])
				done[k] = true
			}
		}
		for k, e := range picked {
			r.resolved[k] = e
		}
	}
	picked := map[event.StateKey]*event.PDU{}
	for _, k := range keys {
		if !done[k] {
			picked[k] = r.resolveNormalEvents(conflicts[k])
		}
	}
	for k, e := range picked {
		r.resolved[k] = e
	}
	for k, e := range r.resolved {
		out[k] = e.EventID()
	}
	return out, nil
}

// resolveAuthEvents resolves the conflict at key k between auth-relevant
// events: sorted by ascending depth then descending sha1(event_id), the first
// goes into R, and each next one replaces it while the auth rules allow it
// in R; the first one they reject stops the pass.
func (r *v1Resolver) resolveAuthEvents(k event.StateKey, evs []v1Event) *event.PDU {
	slices.SortFunc(evs, func(a, b v1Event) int {
		return cmp.Or(cmp.Compare(a.depth, b.depth), bytes.Compare(b.sha[:], a.sha[:]))
	})
	prev := evs[0].pdu
	for _, e := range evs[1:] {
		if !r.allowed(e.pdu, k, prev) {
			break
		}
		prev = e.pdu
	}
	return prev
}

// resolveNormalEvents picks, for a key that does not affect the auth rules,
// the event with the highest depth and lowest sha1(event_id) that the auth
// rules allow in R.
func (r *v1Resolver) resolveNormalEvents(evs []v1Event) *event.PDU {
	slices.SortFunc(evs, func(a, b v1Event) int {
		return cmp.Or(cmp.Compare(b.depth, a.depth), bytes.Compare(a.sha[:], b.sha[:]))
	})
	for _, e := range evs {
		if r.allowed(e.pdu, event.StateKey{}, nil) {
			return e.pdu
		}
	}
	// NOTSPEC: the spec does not say what happens when no event passes.
	// Synapse then keeps the last one tried (lowest depth, highest sha1);
	// Hafen does the same.
	return evs[len(evs)-1].pdu
}

// allowed checks e against R, where R's entry for key k (if prev is not nil)
// is replaced by prev.
func (r *v1Resolver) allowed(e *event.PDU, k event.StateKey, prev *event.PDU) bool {
	sk, _ := e.StateKey()
	needed, err := authrules.NeededStateKeys(r.v, e.Type(), &sk, e.Sender(), e.Content())
	if err != nil {
		return false
	}
	as := r.authState
	clear(as)
	for _, nk := range needed {
		if prev != nil && nk == k {
			as[nk] = prev
			continue
		}
		if p, ok := r.resolved[nk]; ok {
			as[nk] = p
			continue
		}
		if eid, ok := r.unconflicted[nk]; ok {
			if p, ok := r.lookup(eid); ok {
				as[nk] = p
			}
		}
	}
	return authrules.Check(e, as) == nil
}
