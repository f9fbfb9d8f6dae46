package crosscheck

// Where gomatrixserverlib departs from the spec, the generator's expected
// answer follows the spec. Each departure below cites the rule it breaks.

import (
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// authMembership returns the membership of user u in an event's auth state.
func authMembership(state []*genEvent, u string) string {
	for _, a := range state {
		if a.Type == "m.room.member" && *a.StateKey == u {
			return a.membership()
		}
	}
	return "leave"
}

func authJoinRule(state []*genEvent) (string, bool) {
	for _, a := range state {
		if a.Type == "m.room.join_rules" && *a.StateKey == "" {
			s, _ := a.content()["join_rule"].(string)
			return s, true
		}
	}
	return "", false
}

// joinRulesAdmittingMembers lists the join rules under which a user whose
// membership is invite or join may join (rules 5.3.4 to 5.3.6 of v12; the
// same steps in earlier versions, with knock from v7, restricted from v8 and
// knock_restricted from v10).
func joinRulesAdmittingMembers(v *roomversion.Version) []string {
	rules := []string{"invite", "public"}
	if v.Knocking {
		rules = append(rules, "knock")
	}
	if v.RestrictedJoins {
		rules = append(rules, "restricted")
	}
	if v.KnockRestricted {
		rules = append(rules, "knock_restricted")
	}
	return rules
}

// specDecision returns the spec's auth decision for ev and, where it differs
// from gomatrixserverlib's, the reason.
func specDecision(r *genRoom, ev *genEvent) (bool, string) {
	return specDecisionIn(r, ev, ev.GMSLAllowed, ev.GMSLReason, ev.AuthState)
}

// specDecisionIn is specDecision for ev authorised against state, where
// gomatrixserverlib decided g, giving reason when it rejected.
func specDecisionIn(r *genRoom, ev *genEvent, g bool, reason string, state []*genEvent) (bool, string) {
	switch ev.Type {
	case "m.room.create":
		if want, why := specCreate(r, ev); want != g {
			return want, "gomatrixserverlib: " + why
		}
		return g, ""
	case "m.room.power_levels":
		return specPowerLevels(r, ev, g, reason, state)
	case "m.room.aliases":
		if !r.Version.SpecialCaseAliasesAuth && (g || strings.Contains(reason, "alias state_key")) {
			// Spec rooms/v6 §Authorization rules: the m.room.aliases rule
			// of v1-v5 (rule 4) is gone, so m.room.aliases is an ordinary
			// state event: the sender must be joined (rule 5) and have the
			// required power level (rule 7). gomatrixserverlib keeps the
			// v1-v5 rule in every version.
			pl := levelsOf(r, state)
			want := authMembership(state, ev.Sender) == "join" && pl.user(ev.Sender) >= pl.stateLevel(ev.Type)
			if want != g {
				return want, "gomatrixserverlib applies the v1-v5 m.room.aliases auth rule in v6+ rooms, where the spec (rooms/v6 §Authorization rules) removed it"
			}
		}
		return g, ""
	}
	if ev.Type != "m.room.member" || ev.StateKey == nil {
		return g, ""
	}
	if !g && !(ev.membership() == "join" && ev.Sender == *ev.StateKey) {
		return g, ""
	}
	target := *ev.StateKey
	old := authMembership(state, target)
	switch ev.membership() {
	case "leave":
		// Spec rooms/v12 §Authorization rules 5.5.1 (the same rule in v1-v11):
		// "If the sender matches state_key, allow if and only if that user's
		// current membership state is invite, join, or knock."
		// gomatrixserverlib allows leave -> leave (its own NOTSPEC).
		if ev.Sender == target && old == "leave" {
			return false, "gomatrixserverlib allows a self leave from membership leave; spec auth rule 5.5.1 rejects it"
		}
		if ev.Sender != target && old == "ban" {
			// Spec rooms/v12 §Authorization rules 5.5.3-5.5.5: unbanning
			// needs the ban level *and* passes the kick rule: "If the
			// sender's power level is greater than or equal to the kick
			// level, and the target user's power level is less than the
			// sender's power level, allow. Otherwise, reject." (Also the
			// note "To unban somebody, you must have power level greater
			// than or equal to both the kick and ban levels, and greater
			// than the target user's power level.")
			// gomatrixserverlib only checks the ban level.
			if !unbanAllowed(r, ev, state) {
				return false, "gomatrixserverlib unbans with the ban level alone; spec auth rules 5.5.3-5.5.5 also need the kick level and a higher level than the target"
			}
		}
	case "join":
		if ev.Sender != target {
			return g, ""
		}
		if jr, ok := authJoinRule(state); ok && jr == "public" && old == "knock" && !g {
			// Spec rooms/v12 §Authorization rules 5.3.6 (v7+): "If the
			// join_rule is public, allow." gomatrixserverlib only lets a
			// user whose membership is leave join a public room, so a
			// knocking user cannot.
			return true, "gomatrixserverlib rejects a join from membership knock under join rule public; spec auth rule 5.3.6 allows it"
		}
		if !g || old != "invite" && old != "join" {
			return g, ""
		}
		jr, ok := authJoinRule(state)
		if !ok {
			return g, ""
		}
		for _, allowed := range joinRulesAdmittingMembers(r.Version) {
			if jr == allowed {
				return g, ""
			}
		}
		// Spec rooms/v12 §Authorization rules 5.3.4-5.3.7 (v1: rules
		// 5.2.3-5.2.6): an invited or joined user may join only under the
		// invite, knock, restricted, knock_restricted (as far as the version
		// has them) or public join rule; "Otherwise, reject."
		// gomatrixserverlib lets an invited or joined user join under any
		// join rule.
		return false, "gomatrixserverlib lets an invited or joined user join under join rule " + jr + "; spec auth rule 5.3.7 rejects"
	}
	return g, ""
}

// unbanAllowed applies rules 5.5.3-5.5.5 to an unban that passed
// gomatrixserverlib (so the sender is joined and has the ban level).
func unbanAllowed(r *genRoom, ev *genEvent, state []*genEvent) bool {
	pl := levelsOf(r, state)
	sender := pl.user(ev.Sender)
	return sender >= pl.kick && pl.user(*ev.StateKey) < sender
}

// levels is the part of m.room.power_levels content this file needs.
type levels struct {
	events       map[string]int64
	stateDefault int64
	users        map[string]int64
	usersDefault int64
	kick, ban    int64
	creators     []string
}

// stateLevel is the level required to send a state event of type typ.
func (l levels) stateLevel(typ string) int64 {
	if v, ok := l.events[typ]; ok {
		return v
	}
	return l.stateDefault
}

func (l levels) user(u string) int64 {
	for _, c := range l.creators {
		if c == u {
			return 1 << 62
		}
	}
	if v, ok := l.users[u]; ok {
		return v
	}
	return l.usersDefault
}

// levelsOf reads the power levels from an auth state, with the spec's
// defaults (m.room.power_levels schema): without an m.room.power_levels
// event the creator has 100 and everyone else 0; kick, ban and
// state_default are 50 whether or not there is such an event.
func levelsOf(r *genRoom, state []*genEvent) levels {
	l := levels{users: map[string]int64{}, events: map[string]int64{}, kick: 50, ban: 50, stateDefault: 50}
	if r.Version.PrivilegedCreators {
		l.creators = append(l.creators, r.Create.Sender)
		if ac, ok := r.Create.content()["additional_creators"].([]any); ok {
			for _, a := range ac {
				if s, ok := a.(string); ok {
					l.creators = append(l.creators, s)
				}
			}
		}
	}
	var pl *genEvent
	for _, a := range state {
		if a.Type == "m.room.power_levels" && *a.StateKey == "" {
			pl = a
		}
	}
	if pl == nil {
		creator := r.Create.Sender
		if c, ok := r.Create.content()["creator"].(string); ok && !r.Version.CreatorFromSender {
			creator = c
		}
		l.users[creator] = 100
		return l
	}
	c := pl.content()
	if u, ok := c["users"].(map[string]any); ok {
		for k, v := range u {
			l.users[k] = roughInt(v)
		}
	}
	if v, ok := c["users_default"]; ok {
		l.usersDefault = roughInt(v)
	}
	if ev, ok := c["events"].(map[string]any); ok {
		for k, v := range ev {
			l.events[k] = roughInt(v)
		}
	}
	if v, ok := c["state_default"]; ok {
		l.stateDefault = roughInt(v)
	}
	if v, ok := c["kick"]; ok {
		l.kick = roughInt(v)
	}
	if v, ok := c["ban"]; ok {
		l.ban = roughInt(v)
	}
	return l
}

// specResolution returns the resolved state the spec asks for in f.
func specResolution(r *genRoom, f *fork) (map[skey]string, string) {
	var want map[skey]string
	if r.Version.StateRes == roomversion.StateResV1 {
		want = refResolveV1(r, f.Sets)
	} else {
		want = refResolve(r, f.Sets)
	}
	if f.GMSLErr != nil {
		return want, "gomatrixserverlib failed: " + f.GMSLErr.Error()
	}
	if d := diffState(want, f.GMSL); d != "" {
		return want, "gomatrixserverlib differs from the reference resolver: " + d
	}
	return want, ""
}

// diffState describes how two state maps differ, or returns "".
func diffState(a, b map[skey]string) string {
	var out string
	n := 0
	for _, k := range sortedKeys(union(a, b)) {
		if a[k] != b[k] {
			n++
			if n <= 3 {
				out += fmt.Sprintf(" (%s,%q): %q vs %q;", k.Type, k.StateKey, a[k], b[k])
			}
		}
	}
	if n > 3 {
		out += fmt.Sprintf(" and %d more", n-3)
	}
	return out
}

func union(a, b map[skey]string) map[skey]string {
	u := map[skey]string{}
	for k, v := range a {
		u[k] = v
	}
	for k, v := range b {
		u[k] = v
	}
	return u
}

// specCreate applies auth rule 1 (m.room.create) of the room version. It
// returns the decision and, for the record, what gomatrixserverlib does
// differently when they disagree.
//
// Spec rooms/v1 §Authorization rules 1 (v1-v10: 1.1 prev_events, 1.2 room ID
// domain, 1.3 room_version, 1.4 creator), rooms/v11 (no creator rule),
// rooms/v12 (1.2 no room_id, 1.4 additional_creators). None of them looks at
// the state key: gomatrixserverlib rejects a create event whose state key is
// not empty, a rule the spec does not have.
func specCreate(r *genRoom, ev *genEvent) (bool, string) {
	v := r.Version
	why := "rejects a create event with a non-empty state key, which spec auth rule 1 does not"
	if *ev.StateKey == "" {
		why = "decides a create event differently from spec auth rule 1"
	}
	if len(ev.PrevIDs) > 0 {
		return false, why
	}
	roomID, hasRoomID := ev.obj["room_id"].(string)
	if v.RoomIDFromCreateEvent {
		if hasRoomID {
			return false, why
		}
	} else if serverOf(roomID) != serverOf(ev.Sender) {
		return false, why
	}
	c := ev.content()
	if rv, ok := c["room_version"]; ok {
		s, isStr := rv.(string)
		if _, known := roomversion.Lookup(roomversion.ID(s)); !isStr || !known {
			if v.CreatorFromSender && !v.PrivilegedCreators {
				// gomatrixserverlib's v11 create check (checkCreateEventV2)
				// only compares domains.
				why = "accepts a v11 create event whose content.room_version is not a recognised version (spec rooms/v11 auth rule 1.3 rejects)"
			}
			return false, why
		}
	}
	if !v.CreatorFromSender {
		if _, ok := c["creator"]; !ok {
			return false, why
		}
	}
	if v.PrivilegedCreators {
		if ac, ok := c["additional_creators"]; ok {
			list, isList := ac.([]any)
			if !isList {
				return false, why
			}
			for _, x := range list {
				if s, ok := x.(string); !ok || !validUserID(s) {
					return false, why
				}
			}
		}
	}
	return true, why
}

// validUserID is a loose user ID check: "@", a localpart, ":", a server.
func validUserID(s string) bool {
	if len(s) < 4 || s[0] != '@' {
		return false
	}
	i := strings.IndexByte(s, ':')
	return i > 1 && i < len(s)-1
}

// specPowerLevels re-decides the level comparisons of an
// m.room.power_levels event (rooms/v1 §Authorization rules 10.3-10.7,
// rooms/v12 10.6-10.10) where gomatrixserverlib either allowed the event or
// rejected it for a level comparison. gomatrixserverlib compares levels with
// their defaults filled in, so adding an entry equal to users_default or
// events_default counts as "no change" for it and adding any entry counts
// as changing the default value; the spec compares the entries themselves.
// It also compares notification levels with >= where the spec says
// "greater than", and, in v12, takes a creator's notification-changing
// level from the users map instead of treating creators as infinitely high.
func specPowerLevels(r *genRoom, ev *genEvent, g bool, reason string, state []*genEvent) (bool, string) {
	if !g && !strings.Contains(reason, "not allowed to change") && !strings.Contains(reason, "not allowed change") {
		return g, ""
	}
	var old *genEvent
	for _, a := range state {
		if a.Type == "m.room.power_levels" && *a.StateKey == "" {
			old = a
		}
	}
	if old == nil {
		return g, ""
	}
	senderLevel := levelsOf(r, state).user(ev.Sender)
	oc, nc := old.content(), ev.content()
	want := true
	// rooms/v12 10.4: users must not name a room creator.
	if r.Version.PrivilegedCreators {
		if nu, ok := nc["users"].(map[string]any); ok {
			for u := range nu {
				if isCreator(r, u) {
					want = false
				}
			}
		}
	}
	for _, k := range []string{"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"} {
		ov, oOK := oc[k]
		nv, nOK := nc[k]
		if oOK == nOK && (!oOK || roughInt(ov) == roughInt(nv)) {
			continue
		}
		if oOK && roughInt(ov) > senderLevel || nOK && roughInt(nv) > senderLevel {
			want = false
		}
	}
	maps := []string{"events"}
	if r.Version.NotificationsPowerLevel {
		maps = append(maps, "notifications")
	}
	for _, m := range append(maps, "users") {
		om, _ := oc[m].(map[string]any)
		nm, _ := nc[m].(map[string]any)
		keys := map[string]bool{}
		for k := range om {
			keys[k] = true
		}
		for k := range nm {
			keys[k] = true
		}
		for k := range keys {
			ov, oOK := om[k]
			nv, nOK := nm[k]
			if oOK && nOK && roughInt(ov) == roughInt(nv) {
				continue
			}
			if oOK && (m != "users" || k != ev.Sender) {
				if m == "users" && roughInt(ov) >= senderLevel || m != "users" && roughInt(ov) > senderLevel {
					want = false
				}
			}
			if nOK && roughInt(nv) > senderLevel {
				want = false
			}
		}
	}
	if want == g {
		return g, ""
	}
	return want, fmt.Sprintf("gomatrixserverlib compares power level entries with defaults filled in (or notifications with >=); spec auth rule 10 compares the entries (gomatrixserverlib: %v)", g)
}
