package stateres

// Spec: https://spec.matrix.org/v1.19/rooms/v1/#state-resolution
// Spec: https://spec.matrix.org/v1.19/rooms/v2/#state-resolution
// Spec: https://spec.matrix.org/v1.19/rooms/v12/#state-resolution

import (
	"fmt"
	"maps"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// EventLookup returns a PDU by ID; false if unknown.
//
// Resolve calls it many times for the same ID; it must be safe to call from
// the calling goroutine and should be cheap (a map or cache lookup).
type EventLookup func(id.EventID) (*event.PDU, bool)

// Options tunes one resolution. The zero value is what Resolve uses.
type Options struct {
	// AuthChains, when not nil, holds the full auth chain of each state set,
	// in the same order as the state sets: the union of the auth chains of
	// the set's events, where an event's auth chain is every event reachable
	// through auth_events, not counting the event itself. A server that
	// keeps an auth chain index passes it here so that v2 and v2.1 need not
	// walk the whole auth DAG through the EventLookup to compute the auth
	// difference. Without it, Resolve walks auth_events itself and memoizes
	// the walk within the call. State resolution v1 does not use it.
	AuthChains [][]id.EventID

	// Rejected, when not nil, reports whether an event was rejected. In v2
	// and v2.1 a rejected event is never used as an auth event during the
	// iterative auth checks (spec: "Rejected events"). Rejected events in the
	// full conflicted set are still checked again like any other event.
	Rejected func(id.EventID) bool
}

// Resolve resolves the given state sets (each a map from (type,state_key) to
// event ID) for the room version.
//
// Events named by the state sets or reached through auth_events that lookup
// does not know are left out of the resolution, as Synapse and Ruma do: a
// conflicted event that cannot be fetched cannot be checked. Unconflicted
// entries are kept whether or not lookup knows them.
//
// The returned map is new; the state sets are not modified.
func Resolve(v *roomversion.Version, stateSets []map[event.StateKey]id.EventID, lookup EventLookup) (map[event.StateKey]id.EventID, error) {
	return ResolveWithOptions(v, stateSets, lookup, Options{})
}

// ResolveWithOptions is Resolve with options, for callers that have
// precomputed auth chains or know which events were rejected.
func ResolveWithOptions(v *roomversion.Version, stateSets []map[event.StateKey]id.EventID, lookup EventLookup, opts Options) (map[event.StateKey]id.EventID, error) {
	if v == nil {
		return nil, ErrNoVersion
	}
	if opts.AuthChains != nil && len(opts.AuthChains) != len(stateSets) {
		return nil, fmt.Errorf("%w: %d auth chains for %d state sets", ErrAuthChainsMismatch, len(opts.AuthChains), len(stateSets))
	}
	switch len(stateSets) {
	case 0:
		return map[event.StateKey]id.EventID{}, nil
	case 1:
		// A single state set has no conflicts in any algorithm.
		out := maps.Clone(stateSets[0])
		if out == nil {
			out = map[event.StateKey]id.EventID{}
		}
		return out, nil
	}
	switch v.StateRes {
	case roomversion.StateResV1:
		return resolveV1(v, stateSets, lookup)
	case roomversion.StateResV2, roomversion.StateResV2_1:
		return resolveV2(v, stateSets, lookup, opts)
	default:
		return nil, fmt.Errorf("%w: room version %s", ErrUnknownAlgorithm, v.ID)
	}
}
