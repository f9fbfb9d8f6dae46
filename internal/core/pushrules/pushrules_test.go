package pushrules

import (
	"encoding/json"
	"errors"
	"testing"
)

const alice = "@alice:example.org"

func sp(s string) *string { return &s }

func msg(body string, extra string) *Event {
	content := `{"msgtype":"m.text","body":` + string(mustJSON(body)) + extra + `}`
	return NewEvent("m.room.message", "@bob:example.org", "!r:example.org", nil, json.RawMessage(content), "", nil)
}

// TestDefaultRules evaluates the default rules compiled for alice and
// the ones compiled once for every user (CompileFor without account
// data), which must agree.
func TestDefaultRules(t *testing.T) {
	for name, ev := range map[string]*Evaluator{"compiled for alice": Compile(Defaults(alice)), "shared": CompileFor(nil, alice)} {
		t.Run(name, func(t *testing.T) { testDefaultRules(t, ev) })
	}
}

func testDefaultRules(t *testing.T, ev *Evaluator) {
	ctx := func(members int, mayNotify bool) *Context {
		return &Context{UserID: alice, DisplayName: "Alice", MemberCount: func() int { return members },
			SenderMayNotify: func(string) bool { return mayNotify }}
	}
	tests := []struct {
		name      string
		e         *Event
		ctx       *Context
		rule      string
		notify    bool
		highlight bool
	}{
		{"message in a group", msg("hi", ""), ctx(3, false), ".m.rule.message", true, false},
		{"message one to one", msg("hi", ""), ctx(2, false), ".m.rule.room_one_to_one", true, false},
		{"notice", NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{"msgtype":"m.notice","body":"x"}`), "", nil), ctx(3, false), ".m.rule.suppress_notices", false, false},
		{"user mention", msg("hey", `,"m.mentions":{"user_ids":["@alice:example.org"]}`), ctx(3, false), ".m.rule.is_user_mention", true, true},
		{"other's mention", msg("hey", `,"m.mentions":{"user_ids":["@carol:example.org"]}`), ctx(3, false), ".m.rule.message", true, false},
		{"room mention with permission", msg("@room", `,"m.mentions":{"room":true}`), ctx(3, true), ".m.rule.is_room_mention", true, true},
		{"room mention without permission", msg("@room", `,"m.mentions":{"room":true}`), ctx(3, false), ".m.rule.message", true, false},
		{"room mention as string", msg("@room", `,"m.mentions":{"room":"true"}`), ctx(3, true), ".m.rule.message", true, false},
		{"display name in body is no rule since v1.17", msg("hi Alice", ""), ctx(3, false), ".m.rule.message", true, false},
		{"edit", msg("* fixed", `,"m.relates_to":{"rel_type":"m.replace","event_id":"$e"}`), ctx(3, false), ".m.rule.suppress_edits", false, false},
		{"invite for me", NewEvent("m.room.member", "@b:x", "!r:x", sp(alice), json.RawMessage(`{"membership":"invite"}`), "", nil), ctx(3, false), ".m.rule.invite_for_me", true, false},
		{"invite for another", NewEvent("m.room.member", "@b:x", "!r:x", sp("@c:x"), json.RawMessage(`{"membership":"invite"}`), "", nil), ctx(3, false), ".m.rule.member_event", false, false},
		{"tombstone", NewEvent("m.room.tombstone", "@b:x", "!r:x", sp(""), json.RawMessage(`{}`), "", nil), ctx(3, false), ".m.rule.tombstone", true, true},
		{"tombstone not state", NewEvent("m.room.tombstone", "@b:x", "!r:x", nil, json.RawMessage(`{}`), "", nil), ctx(3, false), "", false, false},
		{"reaction", NewEvent("m.reaction", "@b:x", "!r:x", nil, json.RawMessage(`{}`), "", nil), ctx(3, false), ".m.rule.reaction", false, false},
		{"server acl", NewEvent("m.room.server_acl", "@b:x", "!r:x", sp(""), json.RawMessage(`{}`), "", nil), ctx(3, false), ".m.rule.room.server_acl", false, false},
		{"call", NewEvent("m.call.invite", "@b:x", "!r:x", nil, json.RawMessage(`{}`), "", nil), ctx(3, false), ".m.rule.call", true, false},
		{"encrypted one to one", NewEvent("m.room.encrypted", "@b:x", "!r:x", nil, json.RawMessage(`{}`), "", nil), ctx(2, false), ".m.rule.encrypted_room_one_to_one", true, false},
		{"encrypted group", NewEvent("m.room.encrypted", "@b:x", "!r:x", nil, json.RawMessage(`{}`), "", nil), ctx(5, false), ".m.rule.encrypted", true, false},
		{"topic", NewEvent("m.room.topic", "@b:x", "!r:x", sp(""), json.RawMessage(`{"topic":"t"}`), "", nil), ctx(3, false), "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ev.Evaluate(tt.e, tt.ctx)
			if got.RuleID != tt.rule || got.Notify != tt.notify || got.Highlight != tt.highlight {
				t.Errorf("got rule %q notify %v highlight %v, want %q %v %v", got.RuleID, got.Notify, got.Highlight, tt.rule, tt.notify, tt.highlight)
			}
		})
	}
}

// TestCompileForSharesDefaults checks that users without account data
// share one compiled copy of the default rules, while a user's own rules
// (and the defaults' invite rule, whose state_key is the user) apply to
// that user only.
func TestCompileForSharesDefaults(t *testing.T) {
	a, b := CompileFor(nil, alice), CompileFor(nil, "@carol:example.org")
	if a != b {
		t.Error("two users without account data got different compiled defaults")
	}
	invite := NewEvent("m.room.member", "@b:x", "!r:x", sp(alice), json.RawMessage(`{"membership":"invite"}`), "", nil)
	if got := b.Evaluate(invite, &Context{UserID: "@carol:example.org"}); got.RuleID == ".m.rule.invite_for_me" {
		t.Error("alice's invite matched carol's invite_for_me")
	}
	if got := a.Evaluate(invite, &Context{UserID: alice}); got.RuleID != ".m.rule.invite_for_me" {
		t.Errorf("alice's invite matched %q, want .m.rule.invite_for_me", got.RuleID)
	}
	own := CompileFor([]byte(`{"global":{"override":[{"rule_id":"mine","enabled":true,"default":false,"conditions":[],"actions":[]}]}}`), alice)
	if own == a {
		t.Fatal("a user with rules of their own got the shared defaults")
	}
	if got := own.Evaluate(msg("hi", ""), &Context{UserID: alice, MemberCount: func() int { return 3 }}); got.RuleID != "mine" {
		t.Errorf("alice's own rule: matched %q, want mine", got.RuleID)
	}
	if CompileFor([]byte(`not json`), alice) != a {
		t.Error("unreadable account data did not fall back to the shared defaults")
	}
}

func TestDefaultsJSON(t *testing.T) {
	b, err := json.Marshal(Rules{Global: Defaults(alice)})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Global map[string][]map[string]json.RawMessage `json:"global"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	master := back.Global["override"][0]
	if string(master["rule_id"]) != `".m.rule.master"` || string(master["conditions"]) != `[]` || string(master["enabled"]) != "false" || string(master["actions"]) != "[]" {
		t.Errorf("master rule = %v", master)
	}
	tomb := back.Global["override"][6]
	if string(tomb["conditions"]) != `[{"kind":"event_match","key":"type","pattern":"m.room.tombstone"},{"kind":"event_match","key":"state_key","pattern":""}]` {
		t.Errorf("tombstone conditions = %s", tomb["conditions"])
	}
	for _, k := range []string{"content", "room", "sender"} {
		if l, ok := back.Global[k]; !ok || len(l) != 0 {
			t.Errorf("%s = %v, want an empty list", k, l)
		}
	}
}

func TestMasterRule(t *testing.T) {
	rs := Defaults(alice)
	if err := rs.SetEnabled(KindOverride, Master, true); err != nil {
		t.Fatal(err)
	}
	if got := Compile(rs).Evaluate(msg("x", `,"m.mentions":{"user_ids":["@alice:example.org"]}`), &Context{UserID: alice}); got.RuleID != Master || got.Notify {
		t.Errorf("with master enabled got %+v", got)
	}
}

func TestUserRules(t *testing.T) {
	rs := Defaults(alice)
	put := func(kind, id string, nr NewRule, before, after string) {
		t.Helper()
		if err := rs.Put(kind, id, nr, before, after); err != nil {
			t.Fatalf("put %s/%s: %v", kind, id, err)
		}
	}
	notify := []json.RawMessage{json.RawMessage(`"notify"`), json.RawMessage(`{"set_tweak":"highlight"}`)}
	put(KindContent, "cake", NewRule{Pattern: sp("cake*lie"), Actions: notify}, "", "")
	ctx := &Context{UserID: alice, MemberCount: func() int { return 5 }}
	for body, want := range map[string]string{
		"the CAKE is a lie!":  "cake",
		"cakeisalie":          "cake",
		"the cakes are lies":  ".m.rule.message",
		"pancake is a lie":    ".m.rule.message",
		"cake-and-lie, and a": "cake",
	} {
		if got := Compile(rs).Evaluate(msg(body, ""), ctx); got.RuleID != want {
			t.Errorf("body %q matched %q, want %q", body, got.RuleID, want)
		}
	}
	// A room rule silences the room; a sender rule ranks below it.
	put(KindRoom, "!r:example.org", NewRule{Actions: []json.RawMessage{}}, "", "")
	put(KindSender, "@bob:example.org", NewRule{Actions: notify}, "", "")
	if got := Compile(rs).Evaluate(msg("hello", ""), ctx); got.RuleID != "!r:example.org" || got.Notify {
		t.Errorf("room rule: got %+v", got)
	}
	// User overrides come after master, before the default overrides.
	put(KindOverride, "a", NewRule{Actions: []json.RawMessage{}, Conditions: []Condition{{Kind: CondEventMatch, Key: "content.msgtype", Pattern: sp("m.te?t")}}}, "", "")
	put(KindOverride, "b", NewRule{Actions: notify}, "", "")
	put(KindOverride, "c", NewRule{Actions: notify}, "", "b")
	put(KindOverride, "d", NewRule{Actions: notify}, "b", "")
	var ids []string
	for _, r := range rs.Override[:6] {
		ids = append(ids, r.RuleID)
	}
	if want := []string{Master, "d", "b", "c", "a", ".m.rule.suppress_notices"}; !equal(ids, want) {
		t.Errorf("override order %v, want %v", ids, want)
	}
	if err := rs.Delete(KindOverride, "d"); err != nil {
		t.Fatal(err)
	}
	if err := rs.Delete(KindOverride, "b"); err != nil {
		t.Fatal(err)
	}
	if err := rs.Delete(KindOverride, "c"); err != nil {
		t.Fatal(err)
	}
	if got := Compile(rs).Evaluate(msg("x", ""), ctx); got.RuleID != "a" {
		t.Errorf("override a: got %+v", got)
	}
	// Disabled rules never match.
	if err := rs.SetEnabled(KindOverride, "a", false); err != nil {
		t.Fatal(err)
	}
	if got := Compile(rs).Evaluate(msg("x", ""), ctx); got.RuleID != "!r:example.org" {
		t.Errorf("disabled override: got %+v", got)
	}
	// Replacing a rule keeps its enabled flag.
	put(KindOverride, "a", NewRule{Actions: notify}, "", "")
	if r, _ := rs.Get(KindOverride, "a"); r.Enabled {
		t.Error("replacing a disabled rule enabled it")
	}
}

func TestEditErrors(t *testing.T) {
	rs := Defaults(alice)
	acts := []json.RawMessage{json.RawMessage(`"notify"`)}
	for _, tt := range []struct {
		name          string
		kind, id      string
		nr            NewRule
		before, after string
		want          error
	}{
		{"unknown kind", "weird", "x", NewRule{Actions: acts}, "", "", ErrInvalid},
		{"dot id", KindOverride, ".mine", NewRule{Actions: acts}, "", "", ErrDefaultRule},
		{"slash", KindOverride, "a/b", NewRule{Actions: acts}, "", "", ErrInvalid},
		{"backslash", KindOverride, `a\b`, NewRule{Actions: acts}, "", "", ErrInvalid},
		{"no actions", KindOverride, "x", NewRule{}, "", "", ErrInvalid},
		{"bad action", KindOverride, "x", NewRule{Actions: []json.RawMessage{json.RawMessage(`"explode"`)}}, "", "", ErrInvalid},
		{"tweak without name", KindOverride, "x", NewRule{Actions: []json.RawMessage{json.RawMessage(`{"value":1}`)}}, "", "", ErrInvalid},
		{"content without pattern", KindContent, "x", NewRule{Actions: acts}, "", "", ErrInvalid},
		{"room rule not a room", KindRoom, "x", NewRule{Actions: acts}, "", "", ErrInvalid},
		{"sender rule not a user", KindSender, "x", NewRule{Actions: acts}, "", "", ErrInvalid},
		{"before a default", KindOverride, "x", NewRule{Actions: acts}, ".m.rule.master", "", ErrDefaultRule},
		{"after unknown", KindOverride, "x", NewRule{Actions: acts}, "", "nope", ErrRelative},
	} {
		if err := rs.Put(tt.kind, tt.id, tt.nr, tt.before, tt.after); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := rs.Delete(KindOverride, ".m.rule.master"); !errors.Is(err, ErrDefaultRule) {
		t.Errorf("delete default: %v", err)
	}
	if err := rs.Delete(KindOverride, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete unknown: %v", err)
	}
	if err := rs.SetEnabled(KindUnderride, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("enable unknown: %v", err)
	}
	if len(rs.Override) != len(Defaults(alice).Override) {
		t.Error("a refused edit changed the ruleset")
	}
	// Historical actions are stripped.
	if err := rs.SetActions(KindUnderride, ".m.rule.message", []json.RawMessage{json.RawMessage(`"dont_notify"`)}); err != nil {
		t.Fatal(err)
	}
	if r, _ := rs.Get(KindUnderride, ".m.rule.message"); len(r.Actions) != 0 {
		t.Errorf("actions = %s", r.Actions)
	}
}

func TestMergeKeepsUserChangesAndFollowsDefaults(t *testing.T) {
	stored := Defaults(alice)
	_ = stored.SetEnabled(KindOverride, Master, true)
	_ = stored.SetActions(KindUnderride, ".m.rule.message", []json.RawMessage{})
	_ = stored.Put(KindOverride, "mine", NewRule{Actions: []json.RawMessage{}}, "", "")
	// A default rule an older spec had and this one has not is dropped.
	stored.Content = append(stored.Content, Rule{RuleID: ".m.rule.contains_user_name", Default: true, Enabled: true, Pattern: sp("alice")})
	// A rule today's defaults have that was not stored is added.
	stored.Override = stored.Override[:len(stored.Override)-1]
	m := Merge(&stored, alice)
	if m.Override[0].RuleID != Master || !m.Override[0].Enabled || m.Override[1].RuleID != "mine" {
		t.Errorf("override = %+v", m.Override[:2])
	}
	if last := m.Override[len(m.Override)-1]; last.RuleID != ".m.rule.suppress_edits" {
		t.Errorf("last override %s", last.RuleID)
	}
	if len(m.Content) != 0 {
		t.Errorf("content = %+v", m.Content)
	}
	if r, _ := m.Get(KindUnderride, ".m.rule.message"); len(r.Actions) != 0 {
		t.Errorf(".m.rule.message actions %s", r.Actions)
	}
}

func TestConditions(t *testing.T) {
	e := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{"body":"Lunch plans","m.federate":true,"n":5,"nested":{"a.b":"v"},"list":["x",3,null,{"o":1}],"null":null}`), "", nil)
	ctx := &Context{UserID: alice, DisplayName: "Bob Smith", MemberCount: func() int { return 4 }}
	for _, tt := range []struct {
		c    Condition
		want bool
	}{
		{Condition{Kind: CondEventMatch, Key: "content.body", Pattern: sp("lunc?")}, true},
		{Condition{Kind: CondEventMatch, Key: "content.body", Pattern: sp("lunc")}, false},
		{Condition{Kind: CondEventMatch, Key: "type", Pattern: sp("m.room.*")}, true},
		{Condition{Kind: CondEventMatch, Key: "type", Pattern: sp("m.room")}, false},
		{Condition{Kind: CondEventMatch, Key: "content.n", Pattern: sp("*")}, false},
		{Condition{Kind: CondEventMatch, Key: "content.absent", Pattern: sp("*")}, false},
		{Condition{Kind: CondEventMatch, Key: `content.nested.a\.b`, Pattern: sp("V")}, true},
		{Condition{Kind: CondEventPropertyIs, Key: `content.m\.federate`, Value: json.RawMessage(`true`)}, true},
		{Condition{Kind: CondEventPropertyIs, Key: `content.m\.federate`, Value: json.RawMessage(`"true"`)}, false},
		{Condition{Kind: CondEventPropertyIs, Key: "content.n", Value: json.RawMessage(`5`)}, true},
		{Condition{Kind: CondEventPropertyIs, Key: "content.null", Value: json.RawMessage(`null`)}, true},
		{Condition{Kind: CondEventPropertyContains, Key: "content.list", Value: json.RawMessage(`3`)}, true},
		{Condition{Kind: CondEventPropertyContains, Key: "content.list", Value: json.RawMessage(`null`)}, true},
		{Condition{Kind: CondEventPropertyContains, Key: "content.list", Value: json.RawMessage(`"y"`)}, false},
		{Condition{Kind: CondContainsDisplayName}, false},
		{Condition{Kind: CondRoomMemberCount, Is: "4"}, true},
		{Condition{Kind: CondRoomMemberCount, Is: ">=5"}, false},
		{Condition{Kind: CondRoomMemberCount, Is: "<5"}, true},
		{Condition{Kind: CondRoomMemberCount, Is: "lots"}, false},
		{Condition{Kind: "im.vendor.unknown"}, false},
	} {
		rs := Ruleset{Override: []Rule{{RuleID: "r", Enabled: true, Conditions: []Condition{tt.c}, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}}}
		if got := Compile(rs).Evaluate(e, ctx).RuleID == "r"; got != tt.want {
			t.Errorf("%+v: got %v, want %v", tt.c, got, tt.want)
		}
	}
	dn := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{"body":"ping bob smith!"}`), "", nil)
	rs := Ruleset{Override: []Rule{{RuleID: "r", Enabled: true, Conditions: []Condition{{Kind: CondContainsDisplayName}}}}}
	if Compile(rs).Evaluate(dn, ctx).RuleID != "r" {
		t.Error("contains_display_name did not match")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
