package authrules

// Spec: https://spec.matrix.org/v1.19/rooms/v1/#authorization-rules (v1, v2),
// https://spec.matrix.org/v1.19/rooms/v3/#authorization-rules (v3–v5),
// https://spec.matrix.org/v1.19/rooms/v6/#authorization-rules,
// https://spec.matrix.org/v1.19/rooms/v7/#authorization-rules,
// https://spec.matrix.org/v1.19/rooms/v8/#authorization-rules (v8, v9),
// https://spec.matrix.org/v1.19/rooms/v10/#authorization-rules,
// https://spec.matrix.org/v1.19/rooms/v11/#authorization-rules,
// https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules

import (
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Event types that the auth rules read.
const (
	TypeCreate            = "m.room.create"
	TypeMember            = "m.room.member"
	TypeJoinRules         = "m.room.join_rules"
	TypePowerLevels       = "m.room.power_levels"
	TypeThirdPartyInvite  = "m.room.third_party_invite"
	TypeAliases           = "m.room.aliases"
	TypeRedaction         = "m.room.redaction"
	contentKeyMembership  = "membership"
	contentKeyAuthoriser  = "join_authorised_via_users_server"
	contentKeyThirdParty  = "third_party_invite"
	contentKeyJoinRule    = "join_rule"
	contentKeyFederate    = "m.federate"
	contentKeyCreator     = "creator"
	contentKeyRoomVersion = "room_version"
	contentKeyAddCreators = "additional_creators"
)

// StateMap is the auth-relevant state an event is checked against: the
// events selected by "Auth events selection", keyed by (type, state_key).
// In room v12 it must also hold the create event under (m.room.create, ""),
// although v12 events do not list it in auth_events.
type StateMap map[event.StateKey]*event.PDU

// NotAllowedError is returned by Check when the auth rules reject an event.
type NotAllowedError struct {
	// Rule is the number of the rule that rejected the event in the rule
	// list of the event's room version, for example "4.3.1".
	Rule string
	// Reason says why, in lowercase words.
	Reason string
}

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("auth rule %s: %s", e.Rule, e.Reason)
}

func reject(r, reason string) error { return &NotAllowedError{Rule: r, Reason: reason} }

func createKey() event.StateKey { return event.StateKey{Type: TypeCreate} }

// checker holds what one Check call has read so far.
type checker struct {
	v      *roomversion.Version
	e      *event.PDU
	state  StateMap
	create *event.PDU
	pl     *PowerLevels
}

// Check returns nil if e is allowed by the auth rules of e.Version() against
// state, else a *NotAllowedError naming the rule.
//
// Check applies the rules that look at state. The rules about the event's
// own auth_events list (2.1, 2.2, 2.4, 2.5; 3.x in v12) are in
// CheckAuthEventsList; that the auth events were not themselves rejected
// (2.3) and the join_authorised_via_users_server signature (4.2, v8+) are
// checked on receipt of the PDU. Check does, however, reject an event when
// state has no create event (2.4 in v1–v11, 2 in v12), because no other
// rule can be applied without one.
func Check(e *event.PDU, state StateMap) error {
	c := checker{v: e.Version(), e: e, state: state}
	v := c.v

	// 1 (v1+): m.room.create.
	if e.Type() == TypeCreate {
		return c.checkCreate()
	}

	c.create = state[createKey()]
	if v.RoomIDFromCreateEvent {
		// 2 (v12): if the event's room_id is not the event ID of an accepted
		// m.room.create event with sigil "!", reject.
		if c.create == nil || !roomIDMatchesCreate(e.RoomID(), c.create) {
			return reject("2", "room id is not derived from the create event")
		}
	} else if c.create == nil {
		// 2.4 (v1–v11): if there is no m.room.create event among the
		// entries, reject.
		return reject(rule(numAuthEvents(v), 4), "no create event")
	}

	// 3 (v1–v11; 4 in v12): if the create event's content has m.federate set
	// to false and the sender domains differ, reject.
	if fv, ok := member(c.create.Content(), contentKeyFederate); ok && string(fv) == "false" &&
		e.Sender().Domain() != c.create.Sender().Domain() {
		return reject(rule(numFederate(v)), "room is not federated and sender is from another server")
	}

	// 4 (v1–v5): m.room.aliases.
	if v.SpecialCaseAliasesAuth && e.Type() == TypeAliases {
		sk, ok := e.StateKey()
		// 4.1 (v1–v5): if event has no state_key, reject.
		if !ok {
			return reject(rule(numAliases(v), 1), "aliases event has no state key")
		}
		// 4.2 (v1–v5): if sender's domain doesn't match state_key, reject.
		if string(e.Sender().Domain()) != sk {
			return reject(rule(numAliases(v), 2), "aliases state key is not the sender's domain")
		}
		// 4.3 (v1–v5): otherwise, allow.
		return nil
	}

	// 5 (v1–v5), 4 (v6–v11), 5 (v12): m.room.member.
	if e.Type() == TypeMember {
		return c.checkMember()
	}

	// 6 (v1–v5), 5 (v6–v11), 6 (v12): if the sender's current membership
	// state is not join, reject.
	if c.membershipOf(e.Sender()) != MembershipJoin {
		return reject(rule(numSenderJoined(v)), "sender is not joined")
	}

	senderLevel := c.powerLevels().UserLevel(e.Sender())

	// 7 (v1–v5), 6 (v6–v11), 7 (v12): m.room.third_party_invite: allow iff
	// the sender's level is at least the invite level.
	if e.Type() == TypeThirdPartyInvite {
		if senderLevel >= c.powerLevels().Invite() {
			return nil
		}
		return reject(rule(numThirdPartyInviteEvent(v), 1), "sender may not invite")
	}

	// 8 (v1–v5), 7 (v6–v11), 8 (v12): if the event type's required power
	// level is greater than the sender's power level, reject.
	if c.powerLevels().EventLevel(e.Type(), e.IsState()) > senderLevel {
		return reject(rule(numRequiredLevel(v)), "sender's power level is too low for this event type")
	}

	// 9 (v1–v5), 8 (v6–v11), 9 (v12): if the event has a state_key that
	// starts with "@" and does not match the sender, reject.
	if sk, ok := e.StateKey(); ok && strings.HasPrefix(sk, "@") && sk != string(e.Sender()) {
		return reject(rule(numUserStateKey(v)), "state key names another user")
	}

	// 10 (v1–v5), 9 (v6–v11), 10 (v12): m.room.power_levels.
	if e.Type() == TypePowerLevels {
		return c.checkPowerLevels(senderLevel)
	}

	// 11 (v1, v2): m.room.redaction.
	if v.RedactionsCheckedAtAuth && e.Type() == TypeRedaction {
		// 11.1 (v1, v2): if the sender's level is at least the redact
		// level, allow.
		if senderLevel >= c.powerLevels().Redact() {
			return nil
		}
		// 11.2 (v1, v2): if the domain of the redacted event's event_id is
		// that of the redaction's event_id, allow.
		if d := e.Redacts().Domain(); d != "" && d == e.EventID().Domain() {
			return nil
		}
		// 11.3 (v1, v2): otherwise, reject.
		return reject(rule(numRedaction(v), 3), "sender may not redact events of other servers")
	}

	// 12 (v1, v2), 11 (v3–v5), 10 (v6–v11), 11 (v12): otherwise, allow.
	return nil
}

// roomIDMatchesCreate reports whether roomID is the create event's ID with
// sigil "!" instead of "$".
func roomIDMatchesCreate(roomID id.RoomID, create *event.PDU) bool {
	cid := string(create.EventID())
	r := string(roomID)
	return len(cid) > 1 && len(r) == len(cid) && cid[0] == '$' && r[0] == '!' && r[1:] == cid[1:]
}

// powerLevels returns the power levels of the state, parsed once per Check.
func (c *checker) powerLevels() *PowerLevels {
	if c.pl == nil {
		c.pl = NewPowerLevels(c.v, c.state[event.StateKey{Type: TypePowerLevels}], Creators(c.create))
	}
	return c.pl
}

// membershipOf returns the current membership of user in the state, or ""
// if the user has no m.room.member event.
func (c *checker) membershipOf(user id.UserID) string {
	m := c.state[event.StateKey{Type: TypeMember, StateKey: string(user)}]
	if m == nil {
		return ""
	}
	return Membership(m.Content())
}
