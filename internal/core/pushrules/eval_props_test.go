package pushrules

import (
	"encoding/json"
	"sync"
	"testing"
)

// matches reports whether a rule with the one condition c matches e.
func matches(c Condition, e *Event) bool {
	rs := Ruleset{Override: []Rule{{RuleID: "r", Enabled: true, Conditions: []Condition{c}, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}}}
	return Compile(rs).Evaluate(e, &Context{UserID: alice}).RuleID == "r"
}

// TestTopLevelProperties checks that conditions reach every top-level
// property of the event, not only type, sender, room_id, state_key and
// content, but not the PDU's unsigned data.
func TestTopLevelProperties(t *testing.T) {
	// A redaction of a room version before 11, with redacts at the top
	// level and the event ID in the PDU.
	legacy := NewEvent("m.room.redaction", "@b:x", "!r:x", nil, json.RawMessage(`{"reason":"spam"}`), "$legacy:x", json.RawMessage(
		`{"content":{"reason":"spam"},"depth":7,"event_id":"$legacy:x","hashes":{"sha256":"h"},"origin":"x","origin_server_ts":1234,`+
			`"prev_events":["$p:x"],"redacts":"$target:x","room_id":"!r:x","sender":"@b:x","type":"m.room.redaction","unsigned":{"age":5}}`))
	// An event of room version 3 or later, whose PDU has no event ID.
	hashed := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{"body":"hi"}`), "$hashed", json.RawMessage(
		`{"content":{"body":"hi"},"origin_server_ts":99,"room_id":"!r:x","sender":"@b:x","type":"m.room.message"}`))
	// An event prepared without its PDU.
	bare := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{"body":"hi"}`), "", nil)
	for _, tt := range []struct {
		name string
		e    *Event
		c    Condition
		want bool
	}{
		{"event_id in the PDU", legacy, Condition{Kind: CondEventMatch, Key: "event_id", Pattern: sp("$LEGACY*")}, true},
		{"event_id given", hashed, Condition{Kind: CondEventPropertyIs, Key: "event_id", Value: json.RawMessage(`"$hashed"`)}, true},
		{"event_id absent", bare, Condition{Kind: CondEventMatch, Key: "event_id", Pattern: sp("*")}, false},
		{"origin_server_ts", legacy, Condition{Kind: CondEventPropertyIs, Key: "origin_server_ts", Value: json.RawMessage(`1234`)}, true},
		{"origin_server_ts differs", legacy, Condition{Kind: CondEventPropertyIs, Key: "origin_server_ts", Value: json.RawMessage(`1235`)}, false},
		{"origin_server_ts is no string", hashed, Condition{Kind: CondEventMatch, Key: "origin_server_ts", Pattern: sp("*")}, false},
		{"origin_server_ts without PDU", bare, Condition{Kind: CondEventPropertyIs, Key: "origin_server_ts", Value: json.RawMessage(`99`)}, false},
		{"top-level redacts", legacy, Condition{Kind: CondEventMatch, Key: "redacts", Pattern: sp("$target:x")}, true},
		{"origin", legacy, Condition{Kind: CondEventPropertyIs, Key: "origin", Value: json.RawMessage(`"x"`)}, true},
		{"depth", legacy, Condition{Kind: CondEventPropertyIs, Key: "depth", Value: json.RawMessage(`7`)}, true},
		{"prev_events", legacy, Condition{Kind: CondEventPropertyContains, Key: "prev_events", Value: json.RawMessage(`"$p:x"`)}, true},
		{"nested", legacy, Condition{Kind: CondEventMatch, Key: "hashes.sha256", Pattern: sp("h")}, true},
		{"unsigned is not the event's", legacy, Condition{Kind: CondEventPropertyIs, Key: "unsigned.age", Value: json.RawMessage(`5`)}, false},
		{"type from the arguments", legacy, Condition{Kind: CondEventMatch, Key: "type", Pattern: sp("m.room.redaction")}, true},
		{"content from the arguments", legacy, Condition{Kind: CondEventMatch, Key: "content.reason", Pattern: sp("spam")}, true},
	} {
		if got := matches(tt.c, tt.e); got != tt.want {
			t.Errorf("%s: %s on %s matches %v, want %v", tt.name, tt.c.Kind, tt.c.Key, got, tt.want)
		}
	}
}

// TestTopLevelPropertiesConcurrently evaluates one event for several
// users at once, the first of them reading its other properties.
func TestTopLevelPropertiesConcurrently(t *testing.T) {
	e := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{}`), "$e", json.RawMessage(`{"origin_server_ts":5}`))
	ev := Compile(Ruleset{Override: []Rule{{RuleID: "r", Enabled: true, Conditions: []Condition{
		{Kind: CondEventPropertyIs, Key: "origin_server_ts", Value: json.RawMessage(`5`)}}}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if ev.Evaluate(e, &Context{UserID: alice}).RuleID != "r" {
				t.Error("origin_server_ts did not match")
			}
		})
	}
	wg.Wait()
}

// TestPathEscapes checks condition keys against the property names of
// the Appendices' § Dot-separated property paths: `\.` is a dot, `\\` a
// backslash, and any other backslash is itself.
func TestPathEscapes(t *testing.T) {
	for _, tt := range []struct {
		content string
		key     string
		want    bool
	}{
		{`{"m.relates_to":{"rel_type":"v"}}`, `content.m\.relates_to.rel_type`, true},
		{`{"m.relates_to":{"rel_type":"v"}}`, `content.m.relates_to.rel_type`, false},
		{`{"m":{"relates_to":"v"}}`, `content.m.relates_to`, true},
		{`{"m":{"relates_to":"v"}}`, `content.m\.relates_to`, false},
		{`{"m\\foo":"v"}`, `content.m\\foo`, true},
		{`{"m\\foo":"v"}`, `content.m\foo`, true},
		{`{"m\\x":"v"}`, `content.m\x`, true},
		{`{"m\\x":"v"}`, `content.m\\x`, true},
		{`{"m\\x":"v"}`, `content.mx`, false},
		{`{"m\\\\x":"v"}`, `content.m\\x`, false},
		{`{"m\\\\x":"v"}`, `content.m\\\\x`, true},
		{`{"m\\\\x":"v"}`, `content.m\\\x`, true},
		{`{"a\\":"v"}`, `content.a\`, true},
		{`{"a\\":{"b":"v"}}`, `content.a\\.b`, true},
		{`{"a.b\\c":"v"}`, `content.a\.b\c`, true},
	} {
		e := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(tt.content), "", nil)
		for _, c := range []Condition{
			{Kind: CondEventMatch, Key: tt.key, Pattern: sp("V")},
			{Kind: CondEventPropertyIs, Key: tt.key, Value: json.RawMessage(`"v"`)},
		} {
			if got := matches(c, e); got != tt.want {
				t.Errorf("%s on %s: %s matches %v, want %v", c.Kind, tt.content, tt.key, got, tt.want)
			}
		}
	}
	list := NewEvent("m.room.message", "@b:x", "!r:x", nil, json.RawMessage(`{"m\\x":["v"]}`), "", nil)
	if !matches(Condition{Kind: CondEventPropertyContains, Key: `content.m\x`, Value: json.RawMessage(`"v"`)}, list) {
		t.Errorf(`event_property_contains on content.m\x did not match`)
	}
}

// TestNormalizePath checks the form condition keys are compared in.
func TestNormalizePath(t *testing.T) {
	for key, want := range map[string][2]string{
		"content.body":          {"content.body", "content"},
		"event_id":              {"event_id", "event_id"},
		`content.m\.relates_to`: {`content.m\.relates_to`, "content"},
		`content.m\\foo`:        {`content.m\\foo`, "content"},
		`content.m\x`:           {`content.m\\x`, "content"},
		`content.a\`:            {`content.a\\`, "content"},
		`a\.b.c`:                {`a\.b.c`, "a.b"},
		`\x.y`:                  {`\\x.y`, `\x`},
	} {
		if path, root := normalizePath(key); path != want[0] || root != want[1] {
			t.Errorf("normalizePath(%q) = %q, %q, want %q, %q", key, path, root, want[0], want[1])
		}
	}
}
