package authrules

import (
	"crypto/ed25519"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// Membership values of m.room.member.
const (
	MembershipJoin   = "join"
	MembershipInvite = "invite"
	MembershipLeave  = "leave"
	MembershipBan    = "ban"
	MembershipKnock  = "knock"
)

// Join rules of m.room.join_rules.
const (
	JoinRulePublic          = "public"
	JoinRuleInvite          = "invite"
	JoinRuleKnock           = "knock"
	JoinRuleRestricted      = "restricted"
	JoinRuleKnockRestricted = "knock_restricted"
	JoinRulePrivate         = "private"
)

// Membership returns content.membership of an m.room.member content, or ""
// if it is missing or not a string.
func Membership(content []byte) string {
	s, _ := stringMember(content, contentKeyMembership)
	return s
}

// MembershipOf returns content.membership of an m.room.member event, or ""
// for a nil event or a missing or non-string membership.
func MembershipOf(member *event.PDU) string {
	if member == nil {
		return ""
	}
	return Membership(member.Content())
}

// JoinRule returns the join rule of an m.room.join_rules event: "invite"
// when there is no such event or its content has no join_rule, "" when
// join_rule is not a string.
func JoinRule(joinRules *event.PDU) string {
	if joinRules == nil {
		return JoinRuleInvite
	}
	v, ok := member(joinRules.Content(), contentKeyJoinRule)
	if !ok {
		return JoinRuleInvite
	}
	s, _ := stringValue(v)
	return s
}

func (c *checker) joinRule() string {
	// NOTSPEC: the spec does not say which join rule applies when the room
	// has no m.room.join_rules event; like Synapse and Ruma, Hafen uses
	// "invite".
	return JoinRule(c.state[event.StateKey{Type: TypeJoinRules}])
}

// checkMember applies rule 4 (v6–v11; 5 in v1–v5 and v12), "If type is
// m.room.member". The comments number the sub-rules as v8–v11 do and name
// the number in the other versions where it differs.
func (c *checker) checkMember() error {
	v, e := c.v, c.e
	n := numMember(v)

	// 4.1 (v1+): if there is no state_key property, or no membership
	// property in content, reject.
	target, ok := e.StateKey()
	if !ok {
		return reject(rule(n, 1), "member event has no state key")
	}
	mv, ok := member(e.Content(), contentKeyMembership)
	if !ok {
		return reject(rule(n, 1), "member event has no membership")
	}
	membership, _ := stringValue(mv)

	// 4.2 (v8+): join_authorised_via_users_server must be signed by that
	// user's server: checked with the event's signatures on receipt.

	targetID := id.UserID(target)
	sender := e.Sender()
	switch {
	case membership == MembershipJoin:
		return c.checkJoin(n, targetID)
	case membership == MembershipInvite:
		return c.checkInvite(n, targetID)
	case membership == MembershipLeave:
		m := numMembership(v, memberLeave)
		targetMembership := c.membershipOf(targetID)
		// 4.5.1 (v8+; 5.4.1 v1–v5, 4.4.1 v6–v7): if the sender matches
		// state_key, allow iff that user's current membership is invite or
		// join, or (v7+) knock.
		if sender == targetID {
			if targetMembership == MembershipInvite || targetMembership == MembershipJoin ||
				v.Knocking && targetMembership == MembershipKnock {
				return nil
			}
			return reject(rule(n, m, 1), "user may not leave without being invited, joined or knocking")
		}
		// 4.5.2: if the sender's current membership state is not join,
		// reject.
		if c.membershipOf(sender) != MembershipJoin {
			return reject(rule(n, m, 2), "sender is not joined")
		}
		pl := c.powerLevels()
		senderLevel := pl.UserLevel(sender)
		// 4.5.3: if the target is banned and the sender's level is below
		// the ban level, reject.
		if targetMembership == MembershipBan && senderLevel < pl.Ban() {
			return reject(rule(n, m, 3), "sender may not unban")
		}
		// 4.5.4: if the sender's level is at least the kick level and the
		// target's level is below the sender's, allow.
		if senderLevel >= pl.Kick() && pl.UserLevel(targetID) < senderLevel {
			return nil
		}
		// 4.5.5: otherwise, reject.
		return reject(rule(n, m, 5), "sender may not kick this user")
	case membership == MembershipBan:
		m := numMembership(v, memberBan)
		// 4.6.1 (v8+; 5.5.1 v1–v5, 4.5.1 v6–v7): if the sender's current
		// membership state is not join, reject.
		if c.membershipOf(sender) != MembershipJoin {
			return reject(rule(n, m, 1), "sender is not joined")
		}
		pl := c.powerLevels()
		senderLevel := pl.UserLevel(sender)
		// 4.6.2: if the sender's level is at least the ban level and the
		// target's level is below the sender's, allow.
		if senderLevel >= pl.Ban() && pl.UserLevel(targetID) < senderLevel {
			return nil
		}
		// 4.6.3: otherwise, reject.
		return reject(rule(n, m, 3), "sender may not ban this user")
	case membership == MembershipKnock && v.Knocking:
		m := numMembership(v, memberKnock)
		// 4.7.1 (v7+; 4.6.1 in v7): if the join rule is anything other than
		// knock or (v10+) knock_restricted, reject.
		jr := c.joinRule()
		if jr != JoinRuleKnock && !(v.KnockRestricted && jr == JoinRuleKnockRestricted) {
			return reject(rule(n, m, 1), "room does not allow knocking")
		}
		// 4.7.2: if sender does not match state_key, reject.
		if sender != targetID {
			return reject(rule(n, m, 2), "sender may not knock for another user")
		}
		// 4.7.3: if the sender's current membership is not ban, invite or
		// join, allow.
		switch c.membershipOf(sender) {
		case MembershipBan, MembershipInvite, MembershipJoin:
			// 4.7.4: otherwise, reject.
			return reject(rule(n, m, 4), "sender is banned, invited or joined")
		}
		return nil
	}
	// 4.8 (v8+; 5.6 v1–v5, 4.6 v6, 4.7 v7): otherwise, the membership is
	// unknown. Reject.
	return reject(rule(n, numMembership(v, memberUnknown)), "unknown membership")
}

// checkJoin applies rule 4.3 (v8+; 5.2 in v1–v5, 4.2 in v6–v7, 5.3 in
// v12), "If membership is join".
func (c *checker) checkJoin(n int, target id.UserID) error {
	v, e := c.v, c.e
	m := numMembership(v, memberJoin)
	sender := e.Sender()

	// 4.3.1 (v1+): if the only previous event is an m.room.create and the
	// state_key is the creator (v1–v10) or the create event's sender
	// (v11+), allow.
	if prev := e.PrevEvents(); len(prev) == 1 && prev[0] == c.create.EventID() {
		if creator, ok := originalCreator(c.create); ok && creator == target {
			return nil
		}
	}
	// 4.3.2 (v1+): if the sender does not match state_key, reject.
	if sender != target {
		return reject(rule(n, m, 2), "sender may not join for another user")
	}
	current := c.membershipOf(sender)
	// 4.3.3 (v1+): if the sender is banned, reject.
	if current == MembershipBan {
		return reject(rule(n, m, 3), "sender is banned")
	}
	jr := c.joinRule()
	// 4.3.4 (v1+): if the join rule is invite or (v7+) knock, allow if the
	// membership state is invite or join.
	if jr == JoinRuleInvite || v.Knocking && jr == JoinRuleKnock {
		if current == MembershipInvite || current == MembershipJoin {
			return nil
		}
		return reject(rule(n, m, numJoinRule(v, joinOtherwise)), "room is invite only")
	}
	// 4.3.5 (v8+): if the join rule is restricted or (v10+)
	// knock_restricted:
	if v.RestrictedJoins && (jr == JoinRuleRestricted || v.KnockRestricted && jr == JoinRuleKnockRestricted) {
		// 4.3.5.1: if membership state is join or invite, allow.
		if current == MembershipJoin || current == MembershipInvite {
			return nil
		}
		// 4.3.5.2: if join_authorised_via_users_server is not a joined user
		// with the power to invite, reject.
		auth, ok := stringMember(e.Content(), contentKeyAuthoriser)
		if !ok {
			return reject(rule(n, m, 5, 2), "restricted join is not authorised by a user")
		}
		authID := id.UserID(auth)
		if c.membershipOf(authID) != MembershipJoin {
			return reject(rule(n, m, 5, 2), "authorising user is not joined")
		}
		pl := c.powerLevels()
		if pl.UserLevel(authID) < pl.Invite() {
			return reject(rule(n, m, 5, 2), "authorising user may not invite")
		}
		// 4.3.5.3: otherwise, allow.
		return nil
	}
	// 4.3.6 (v8+; 4.2.5 before): if the join rule is public, allow.
	if jr == JoinRulePublic {
		return nil
	}
	// 4.3.7 (v8+; 4.2.6 before): otherwise, reject.
	return reject(rule(n, m, numJoinRule(v, joinOtherwise)), "room does not allow joining")
}

// checkInvite applies rule 4.4 (v8+; 5.3 in v1–v5, 4.3 in v6–v7, 5.4 in
// v12), "If membership is invite".
func (c *checker) checkInvite(n int, target id.UserID) error {
	v, e := c.v, c.e
	m := numMembership(v, memberInvite)
	sender := e.Sender()
	targetMembership := c.membershipOf(target)

	// 4.4.1 (v1+): if content has a third_party_invite property:
	if tpi, ok := member(e.Content(), contentKeyThirdParty); ok {
		// 4.4.1.1: if the target user is banned, reject.
		if targetMembership == MembershipBan {
			return reject(rule(n, m, 1, 1), "target is banned")
		}
		// 4.4.1.2: if content.third_party_invite has no signed property,
		// reject.
		var signed []byte
		if isObject(tpi) {
			signed, ok = member(tpi, "signed")
		}
		if !ok || signed == nil {
			return reject(rule(n, m, 1, 2), "third party invite has no signed property")
		}
		// 4.4.1.3: if signed has no mxid and token properties, reject.
		mxid, okM := stringMember(signed, "mxid")
		token, okT := stringMember(signed, "token")
		if !isObject(signed) || !okM || !okT {
			return reject(rule(n, m, 1, 3), "signed has no mxid or token")
		}
		// 4.4.1.4: if mxid does not match state_key, reject.
		if mxid != string(target) {
			return reject(rule(n, m, 1, 4), "mxid does not match state key")
		}
		// 4.4.1.5: if there is no m.room.third_party_invite event in the
		// state with state_key matching token, reject.
		invite := c.state[event.StateKey{Type: TypeThirdPartyInvite, StateKey: token}]
		if invite == nil {
			return reject(rule(n, m, 1, 5), "no third party invite for token")
		}
		// 4.4.1.6: if sender does not match the sender of the
		// m.room.third_party_invite, reject.
		if invite.Sender() != sender {
			return reject(rule(n, m, 1, 6), "sender did not send the third party invite")
		}
		// 4.4.1.7: if any signature in signed matches any public key in the
		// m.room.third_party_invite event, allow.
		if signedByInviteKey(signed, invite.Content()) {
			return nil
		}
		// 4.4.1.8: otherwise, reject.
		return reject(rule(n, m, 1, 8), "no valid signature by a third party invite key")
	}
	// 4.4.2 (v1+): if the sender's current membership state is not join,
	// reject.
	if c.membershipOf(sender) != MembershipJoin {
		return reject(rule(n, m, 2), "sender is not joined")
	}
	// 4.4.3 (v1+): if the target's current membership is join or ban,
	// reject.
	if targetMembership == MembershipJoin || targetMembership == MembershipBan {
		return reject(rule(n, m, 3), "target is joined or banned")
	}
	// 4.4.4 (v1+): if the sender's level is at least the invite level,
	// allow.
	pl := c.powerLevels()
	if pl.UserLevel(sender) >= pl.Invite() {
		return nil
	}
	// 4.4.5 (v1+): otherwise, reject.
	return reject(rule(n, m, 5), "sender may not invite")
}

// signedByInviteKey reports whether any ed25519 signature in the signed
// object verifies with any public key of the m.room.third_party_invite
// content (public_key, and public_keys[].public_key).
func signedByInviteKey(signed, inviteContent []byte) bool {
	keys := inviteKeys(inviteContent)
	if len(keys) == 0 {
		return false
	}
	sigs, ok := member(signed, "signatures")
	if !ok || !isObject(sigs) {
		return false
	}
	found := false
	eachMember(sigs, func(sk, block []byte) bool {
		server, ok := decodeKey(sk)
		if !ok || !isObject(block) {
			return true
		}
		eachMember(block, func(kk, _ []byte) bool {
			keyID, ok := decodeKey(kk)
			// Third-party invite keys are ed25519 keys; signatures by other
			// algorithms cannot match them.
			if !ok || !strings.HasPrefix(keyID, "ed25519:") {
				return true
			}
			for _, pub := range keys {
				if signing.VerifyJSON(signed, id.ServerName(server), signing.KeyID(keyID), pub) == nil {
					found = true
					return false
				}
			}
			return true
		})
		return !found
	})
	return found
}

// inviteKeys returns the decodable ed25519 public keys of an
// m.room.third_party_invite content.
func inviteKeys(content []byte) []ed25519.PublicKey {
	var keys []ed25519.PublicKey
	add := func(val []byte) {
		s, ok := stringValue(val)
		if !ok {
			return
		}
		b, err := signing.DecodeBase64(s)
		if err != nil {
			b, err = signing.DecodeBase64URL(s)
		}
		if err == nil && len(b) == ed25519.PublicKeySize {
			keys = append(keys, ed25519.PublicKey(b))
		}
	}
	if pk, ok := member(content, "public_key"); ok {
		add(pk)
	}
	if list, ok := member(content, "public_keys"); ok && len(list) > 0 && list[0] == '[' {
		eachElement(list, func(el []byte) bool {
			if pk, ok := member(el, "public_key"); ok {
				add(pk)
			}
			return true
		})
	}
	return keys
}
