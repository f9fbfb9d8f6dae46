// Package stateres implements Matrix state resolution: the algorithm that
// merges several forks of a room's state into one. It owns the three
// algorithms of the room versions Hafen supports:
//
//   - state resolution v1 (room v1), in v1.go;
//   - state resolution v2 (rooms v2–v11);
//   - state resolution v2.1 (room v12, MSC4297), which adds the conflicted
//     state subgraph and starts the first iterative auth checks from an
//     empty state map.
//
// The v2 family has one file per definition or step of the spec:
// conflicted_state_set.go, auth_chain.go, auth_difference.go,
// conflicted_subgraph.go, power_sort.go (reverse topological power
// ordering), mainline_sort.go and iterative_auth_checks.go, tied together by
// v2.go. Callers pick nothing themselves: Resolve branches on the
// roomversion.Version's StateRes flag.
//
// Spec: https://spec.matrix.org/v1.19/rooms/v1/#state-resolution,
// https://spec.matrix.org/v1.19/rooms/v2/#state-resolution and
// https://spec.matrix.org/v1.19/rooms/v12/#state-resolution
//
// The package is part of the pure protocol core: it does no I/O and never
// logs. Events come in through an EventLookup; state sets are maps from
// (type, state_key) to event ID.
//
// # Example
//
//	resolved, err := stateres.Resolve(roomversion.V12, []map[event.StateKey]id.EventID{
//		stateAfterA, stateAfterB,
//	}, store.LookupPDU)
//
// A wrong answer splits a room across the federation, so where the spec
// leaves room for reading, Hafen does what Synapse and Ruma do and says so in
// a NOTSPEC comment.
package stateres
