package pushrules

import (
	"slices"
	"strings"
)

// CopyRoomRules gives room to the user-defined rules that name room from:
// the room rule of from, and the override and underride rules with an
// event_match condition on room_id whose pattern is from (Element mutes a
// room with such an override rule, named after the room). Each copy names
// room to (in its rule ID and its conditions), sits right after its
// original and keeps its actions and whether it is enabled. A rule whose
// copy's ID exists already is left alone, as is one whose ID does not
// name from. It reports whether it added any rule.
//
// A room upgrade uses it, so that the replacement room notifies the user
// as the old room did.
func (rs *Ruleset) CopyRoomRules(from, to string) bool {
	changed := false
	for _, l := range []*[]Rule{&rs.Override, &rs.Room, &rs.Underride} {
		var out []Rule
		for _, r := range *l {
			out = append(out, r)
			if r.Default || !namesRoom(l == &rs.Room, r, from) {
				continue
			}
			newID := strings.ReplaceAll(r.RuleID, from, to)
			if newID == r.RuleID || slices.ContainsFunc(*l, func(o Rule) bool { return o.RuleID == newID }) {
				continue
			}
			c := r
			c.RuleID = newID
			c.Actions = slices.Clone(r.Actions)
			c.Conditions = nil
			for _, cond := range r.Conditions {
				if cond.Kind == "event_match" && cond.Key == "room_id" && cond.Pattern != nil && *cond.Pattern == from {
					p := to
					cond.Pattern = &p
				}
				c.Conditions = append(c.Conditions, cond)
			}
			if r.Conditions != nil && c.Conditions == nil {
				c.Conditions = []Condition{}
			}
			out = append(out, c)
			changed = true
		}
		*l = out
	}
	return changed
}

// namesRoom reports whether r, a rule of the room kind (roomKind) or of
// another kind with conditions, applies to room from alone.
func namesRoom(roomKind bool, r Rule, from string) bool {
	if roomKind {
		return r.RuleID == from
	}
	return slices.ContainsFunc(r.Conditions, func(c Condition) bool {
		return c.Kind == "event_match" && c.Key == "room_id" && c.Pattern != nil && *c.Pattern == from
	})
}
