package clientapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPushRulesAPI walks the push rules API through the router, on every
// backend: the defaults, adding rules relative to others, enabling and
// changing actions, and the spec's errors.
func TestPushRulesAPI(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		at := e.register("alice", "pw-alice").str("access_token")
		bt := e.register("bob", "pw-bob").str("access_token")
		const base = "/_matrix/client/v3/pushrules/global/"
		ids := func(kind, token string) []string {
			t.Helper()
			got := e.do("GET", base, token, nil)
			e.expect(got, http.StatusOK, "")
			var out []string
			for _, r := range got.body[kind].([]any) {
				out = append(out, r.(map[string]any)["rule_id"].(string))
			}
			return out
		}

		all := e.do("GET", "/_matrix/client/v3/pushrules/", at, nil)
		e.expect(all, http.StatusOK, "")
		g := all.body["global"].(map[string]any)
		for _, k := range []string{"override", "content", "room", "sender", "underride"} {
			if _, ok := g[k].([]any); !ok {
				t.Errorf("global.%s missing: %s", k, all.raw)
			}
		}
		over := ids("override", at)
		if over[0] != ".m.rule.master" || over[len(over)-1] != ".m.rule.suppress_edits" || len(over) != 10 {
			t.Errorf("default override rules %v", over)
		}
		mention := e.do("GET", base+"override/.m.rule.is_user_mention", at, nil)
		if conds := mention.body["conditions"].([]any); conds[0].(map[string]any)["value"] != "@alice:hafen.test" {
			t.Errorf("is_user_mention = %s", mention.raw)
		}

		notify := map[string]any{"actions": []any{"notify"}}
		e.expect(e.do("PUT", base+"override/first", at, map[string]any{"actions": []any{"notify"},
			"conditions": []any{map[string]any{"kind": "event_match", "key": "content.body", "pattern": "lunch"}}}), http.StatusOK, "")
		e.expect(e.do("PUT", base+"override/second?after=first", at, notify), http.StatusOK, "")
		e.expect(e.do("PUT", base+"override/zeroth?before=first", at, notify), http.StatusOK, "")
		if got := ids("override", at)[:5]; got[0] != ".m.rule.master" || got[1] != "zeroth" || got[2] != "first" || got[3] != "second" || got[4] != ".m.rule.suppress_notices" {
			t.Errorf("override order %v", got)
		}
		e.expect(e.do("PUT", base+"content/cake", at, map[string]any{"actions": []any{"notify"}, "pattern": "cake*lie"}), http.StatusOK, "")
		e.expect(e.do("PUT", base+"room/"+url.PathEscape("!r:hafen.test"), at, map[string]any{"actions": []any{}}), http.StatusOK, "")
		e.expect(e.do("PUT", base+"sender/"+url.PathEscape("@bob:hafen.test"), at, notify), http.StatusOK, "")
		cake := e.do("GET", base+"content/cake", at, nil)
		if cake.body["pattern"] != "cake*lie" || cake.body["enabled"] != true || cake.body["default"] != false {
			t.Errorf("content rule = %s", cake.raw)
		}

		// enabled and actions, default rules included.
		e.expect(e.do("PUT", base+"override/.m.rule.master/enabled", at, map[string]any{"enabled": true}), http.StatusOK, "")
		if got := e.do("GET", base+"override/.m.rule.master/enabled", at, nil); got.body["enabled"] != true {
			t.Errorf("master enabled = %s", got.raw)
		}
		e.expect(e.do("PUT", base+"underride/.m.rule.message/actions", at, map[string]any{"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "bing"}}}), http.StatusOK, "")
		if got := e.do("GET", base+"underride/.m.rule.message/actions", at, nil); got.raw != `{"actions":["notify",{"set_tweak":"sound","value":"bing"}]}` {
			t.Errorf("actions = %s", got.raw)
		}

		// Errors.
		e.expect(e.do("GET", base+"override/nope", at, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("DELETE", base+"override/nope", at, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("PUT", base+"override/nope/enabled", at, map[string]any{"enabled": true}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("PUT", base+"override/nope/actions", at, notify), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("GET", base+"weird/x", at, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("PUT", base+"override/.m.rule.mine", at, notify), http.StatusBadRequest, "M_UNKNOWN")
		e.expect(e.do("DELETE", base+"override/.m.rule.master", at, nil), http.StatusBadRequest, "M_UNKNOWN")
		e.expect(e.do("PUT", base+"override/x?before=.m.rule.master", at, notify), http.StatusBadRequest, "M_UNKNOWN")
		e.expect(e.do("PUT", base+"override/x?after=missing", at, notify), http.StatusBadRequest, "M_UNKNOWN")
		e.expect(e.do("PUT", base+"content/nopattern", at, notify), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("PUT", base+"room/notaroom", at, notify), http.StatusBadRequest, "M_INVALID_PARAM")
		// Rule IDs are bounded; the error tells the rule's problem, not
		// the server's internals.
		long := e.do("PUT", base+"override/"+strings.Repeat("a", 256), at, notify)
		e.expect(long, http.StatusBadRequest, "M_INVALID_PARAM")
		if msg := long.str("error"); strings.Contains(msg, "account data") || strings.Contains(msg, "@") {
			t.Errorf("error = %q, want only the rule's problem", msg)
		}
		e.expect(e.do("PUT", base+"override/x", at, map[string]any{"actions": []any{"explode"}}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("PUT", base+"override/x", at, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("PUT", base+"override/x", at, `{"actions":"notify"}`), http.StatusBadRequest, "M_BAD_JSON")
		e.expect(e.do("PUT", base+"override/first/enabled", at, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")

		// Deleting a user rule; bob's rules are his own.
		e.expect(e.do("DELETE", base+"override/zeroth", at, nil), http.StatusOK, "")
		if got := ids("override", at)[1]; got != "first" {
			t.Errorf("after delete, override[1] = %s", got)
		}
		if got := ids("override", bt); len(got) != 10 || got[1] != ".m.rule.suppress_notices" {
			t.Errorf("bob's override rules %v", got)
		}
		if got := e.do("GET", base+"override/.m.rule.master/enabled", bt, nil); got.body["enabled"] != false {
			t.Errorf("bob's master = %s", got.raw)
		}
	})
}
