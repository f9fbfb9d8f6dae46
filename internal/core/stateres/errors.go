package stateres

import "errors"

// ErrNoVersion is returned when Resolve is called without a room version.
var ErrNoVersion = errors.New("stateres: no room version")

// ErrUnknownAlgorithm is returned for a room version whose StateRes flag
// names no algorithm Hafen implements.
var ErrUnknownAlgorithm = errors.New("stateres: unknown state resolution algorithm")

// ErrAuthCycle is returned when the auth_events of the events being sorted
// form a cycle, so that no topological ordering exists. Event IDs that are
// reference hashes (room v3+) make such a cycle impossible to build.
var ErrAuthCycle = errors.New("stateres: auth events form a cycle")

// ErrAuthChainsMismatch is returned when Options.AuthChains is set but does
// not hold exactly one auth chain per state set.
var ErrAuthChainsMismatch = errors.New("stateres: auth chains do not match state sets")
