package pducheck

// Spec: https://spec.matrix.org/v1.19/server-server-api/#validating-hashes-and-signatures-on-received-events

import (
	"fmt"

	"github.com/hafenchat/hafen/core/authrules"
	"github.com/hafenchat/hafen/core/event"
	"github.com/hafenchat/hafen/core/id"
	"github.com/hafenchat/hafen/core/signing"
)

// requiredSigners returns the servers whose signatures the event needs: the
// sender's server; in v1 and v2 the server of the event ID; and for a
// restricted join naming join_authorised_via_users_server (v8+), that user's
// server (auth rule 4.2).
func requiredSigners(e *event.PDU) []id.ServerName {
	v := e.Version()
	out := []id.ServerName{e.Sender().Domain()}
	add := func(s id.ServerName) {
		if s == "" {
			return
		}
		for _, have := range out {
			if have == s {
				return
			}
		}
		out = append(out, s)
	}
	if v.EventIDInEvent {
		add(e.EventID().Domain())
	}
	if v.RestrictedJoins && e.Type() == authrules.TypeMember && authrules.Membership(e.Content()) == authrules.MembershipJoin {
		if u, ok := authrules.Authoriser(e.Content()); ok {
			add(u.Domain())
		}
	}
	return out
}

// verifySignatures checks the signatures of every required server on the
// redacted form of e.
func verifySignatures(e *event.PDU, redacted []byte, keys signing.KeyLookup) error {
	v := e.Version()
	for _, s := range requiredSigners(e) {
		if err := signing.CheckSignatures(redacted, s, e.OriginServerTS(), v.EnforceKeyValidity, keys); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSignature, s, err)
		}
	}
	return nil
}
