// Package authrules implements the authorisation rules of Matrix room
// versions 1 to 12 and the auth events selection algorithm.
//
// Spec: https://spec.matrix.org/v1.19/rooms/ (one "Authorisation rules"
// section per room version) and
// https://spec.matrix.org/v1.19/server-server-api/#auth-events-selection
//
// Check decides whether one event is allowed against a set of auth-relevant
// state. It is called for the event's own auth events, for the state before
// the event, for the current state (soft failure), and thousands of times by
// state resolution, so it parses only the content fields a rule needs and
// keeps no global cache.
//
// Rule numbers in NotAllowedError.Rule and in the comments follow the
// numbering of the rule list of the event's room version, which differs
// between version families: the m.room.member rules are rule 5 in v1–v5
// (after the m.room.aliases rule 4), rule 4 in v6–v11 and rule 5 in v12
// (after the new room ID rule 2). Comments name the rule as numbered in
// v6–v11 together with the versions it covers, for example
// "// 4.3.1 (v8+; 5.3.1 in v1–v7 …)". Helper functions in rulenum.go turn
// a rule into the number of the event's own version.
//
// Check does not verify signatures: the requirement of rule 4.2 (v8+) that a
// join naming join_authorised_via_users_server is signed by that user's
// server is a signature check, done with the other signature checks on
// receipt of a PDU (package pducheck).
//
// The package is part of the pure protocol core: it does no I/O.
//
//	err := authrules.Check(ev, stateBefore)
//	var na *authrules.NotAllowedError
//	if errors.As(err, &na) {
//		// rejected by rule na.Rule
//	}
package authrules
