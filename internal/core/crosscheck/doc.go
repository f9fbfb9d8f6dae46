// Package crosscheck holds differential tests that compare Hafen's protocol
// core (core/event, core/authrules, core/stateres) with an independent
// implementation, github.com/matrix-org/gomatrixserverlib, on randomly
// generated but plausible rooms, plus side-by-side benchmarks.
//
// Every other file of the package is a _test.go file, so gomatrixserverlib
// stays a test-only dependency and never reaches the Hafen binary.
//
// Where the two implementations disagree and the Matrix specification
// (v1.19) shows gomatrixserverlib to be wrong, the tests assert the
// specification's answer and name the section it comes from.
//
// Run with more cases or another seed:
//
//	go test ./core/crosscheck/ -args -crosscheck.seed=7 -crosscheck.rooms=1000
//
// or with the environment variables HAFEN_CROSSCHECK_SEED,
// HAFEN_CROSSCHECK_ROOMS and HAFEN_CROSSCHECK_EVENTS.
package crosscheck
