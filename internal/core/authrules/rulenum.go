package authrules

import (
	"strconv"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// The rule lists of the room versions number the same rule differently. The
// functions here give the number a rule has in the list of version v; they
// run only when an event is rejected.

// numCreate is rule "If type is m.room.create" (1 in every version).
func numCreate(*roomversion.Version) int { return 1 }

// numAuthEvents is rule "Considering the event's auth_events" (2 in v1–v11,
// 3 in v12, after the room ID rule 2).
func numAuthEvents(v *roomversion.Version) int {
	if v.RoomIDFromCreateEvent {
		return 3
	}
	return 2
}

// numFederate is the m.federate rule (3 in v1–v11, 4 in v12).
func numFederate(v *roomversion.Version) int { return numAuthEvents(v) + 1 }

// numAliases is the m.room.aliases rule (4 in v1–v5 only).
func numAliases(v *roomversion.Version) int { return numFederate(v) + 1 }

// numMember is rule "If type is m.room.member" (5 in v1–v5, 4 in v6–v11,
// 5 in v12).
func numMember(v *roomversion.Version) int {
	n := numFederate(v) + 1
	if v.SpecialCaseAliasesAuth {
		n++
	}
	return n
}

// numSenderJoined is rule "If the sender's current membership state is not
// join, reject".
func numSenderJoined(v *roomversion.Version) int { return numMember(v) + 1 }

// numThirdPartyInviteEvent is rule "If type is m.room.third_party_invite".
func numThirdPartyInviteEvent(v *roomversion.Version) int { return numMember(v) + 2 }

// numRequiredLevel is the required power level rule.
func numRequiredLevel(v *roomversion.Version) int { return numMember(v) + 3 }

// numUserStateKey is the rule on state keys starting with "@".
func numUserStateKey(v *roomversion.Version) int { return numMember(v) + 4 }

// numPowerLevels is rule "If type is m.room.power_levels".
func numPowerLevels(v *roomversion.Version) int { return numMember(v) + 5 }

// numRedaction is rule "If type is m.room.redaction" (11 in v1, v2 only).
func numRedaction(v *roomversion.Version) int { return numMember(v) + 6 }

// Membership sub-rules of the m.room.member rule.
const (
	memberJoin = iota
	memberInvite
	memberLeave
	memberBan
	memberKnock
	memberUnknown
)

// numMembership is the sub-rule number of the membership branch m: the
// join_authorised_via_users_server rule 2 (v8+) shifts the branches by one,
// and the knock branch (v7+) shifts "unknown membership" by one.
func numMembership(v *roomversion.Version, m int) int {
	join := 2
	if v.RestrictedJoins {
		join = 3
	}
	switch m {
	case memberJoin:
		return join
	case memberInvite:
		return join + 1
	case memberLeave:
		return join + 2
	case memberBan:
		return join + 3
	case memberKnock:
		return join + 4
	}
	if v.Knocking {
		return join + 5
	}
	return join + 4
}

// Sub-rules of the join branch whose number depends on the version.
const (
	joinPublic = iota
	joinOtherwise
)

// numJoinRule numbers the join branch's "public" and "otherwise" rules: the
// restricted rule 5 (v8+) shifts them by one.
func numJoinRule(v *roomversion.Version, r int) int {
	n := 5
	if v.RestrictedJoins {
		n = 6
	}
	if r == joinOtherwise {
		n++
	}
	return n
}

// Sub-rules of the m.room.power_levels rule.
const (
	plUsers = iota
	plCreators
	plNoPrevious
	plScalars
	plEventsRemoved
	plEventsAdded
	plUsersRemoved
	plUsersAdded
)

// numPL numbers the m.room.power_levels sub-rules: v10 adds two rules before
// the users rule and v12 adds the creators rule after it.
func numPL(v *roomversion.Version, r int) int {
	users := 1
	if v.IntegerPowerLevels {
		users = 3
	}
	if r == plUsers {
		return users
	}
	if r == plCreators {
		return users + 1
	}
	noPrev := users + 1
	if v.PrivilegedCreators {
		noPrev++
	}
	return noPrev + (r - plNoPrevious)
}

func rule(parts ...int) string {
	b := make([]byte, 0, 8)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(p), 10)
	}
	return string(b)
}
