package pushrules

import (
	"encoding/json"
	"slices"
	"testing"
)

// CopyRoomRules copies the rules that name the old room, right after
// each, naming the new room; default rules, rules of other rooms and
// rules whose copy exists already are left alone.
func TestCopyRoomRules(t *testing.T) {
	old, replacement := "!old:x", "!new:x"
	pattern := func(p string) *string { return &p }
	mute := Rule{RuleID: old, Enabled: false, Actions: []json.RawMessage{},
		Conditions: []Condition{{Kind: "event_match", Key: "room_id", Pattern: pattern(old)}}}
	other := Rule{RuleID: "!other:x", Enabled: true, Actions: []json.RawMessage{},
		Conditions: []Condition{{Kind: "event_match", Key: "room_id", Pattern: pattern("!other:x")}}}
	unnamed := Rule{RuleID: "keywords", Enabled: true, Actions: []json.RawMessage{},
		Conditions: []Condition{{Kind: "event_match", Key: "room_id", Pattern: pattern(old)}}}
	rs := Ruleset{
		Override: []Rule{{RuleID: ".m.rule.master", Default: true}, mute, other, unnamed},
		Room:     []Rule{{RuleID: old, Enabled: true, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}},
	}
	if !rs.CopyRoomRules(old, replacement) {
		t.Fatal("CopyRoomRules added nothing")
	}
	var ids []string
	for _, r := range rs.Override {
		ids = append(ids, r.RuleID)
	}
	if want := []string{".m.rule.master", old, replacement, "!other:x", "keywords"}; !slices.Equal(ids, want) {
		t.Fatalf("override rules = %v, want %v", ids, want)
	}
	c := rs.Override[2]
	if c.Enabled || len(c.Conditions) != 1 || *c.Conditions[0].Pattern != replacement || *rs.Override[1].Conditions[0].Pattern != old {
		t.Errorf("copy = %+v (original's pattern %s)", c, *rs.Override[1].Conditions[0].Pattern)
	}
	if len(rs.Room) != 2 || rs.Room[1].RuleID != replacement || string(rs.Room[1].Actions[0]) != `"notify"` {
		t.Errorf("room rules = %+v", rs.Room)
	}
	if rs.CopyRoomRules(old, replacement) {
		t.Error("a second copy added rules again")
	}
}
