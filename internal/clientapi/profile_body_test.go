package clientapi

import (
	"net/url"
	"strings"
	"testing"
)

// TestSetProfileFieldBody follows the request body of PUT
// /profile/{userId}/{keyName} (profile.yaml): "exactly one property", the
// key being set, so a body with others beside it is 400 M_BAD_JSON and
// changes nothing; a body that is not JSON is M_BAD_JSON, the code the
// endpoint lists for it; a value over its field's limit is M_INVALID_PARAM,
// M_PROFILE_TOO_LARGE being for a profile over 64 KiB.
func TestSetProfileFieldBody(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, alice := e.user("alice")
		base := "/_matrix/client/v3/profile/" + url.PathEscape("@alice:hafen.test")
		field := func(k string) string { return base + "/" + k }
		e.expect(e.do("PUT", field("displayname"), alice, map[string]any{"displayname": "Alice"}), 200, "")
		e.expect(e.do("PUT", field("org.example.job"), alice, map[string]any{"org.example.job": "pilot"}), 200, "")

		for _, tc := range []struct {
			name, key string
			body      any
			status    int
			errcode   string
		}{
			{"another key beside displayname", "displayname", map[string]any{"displayname": "Mallory", "avatar_url": "mxc://hafen.test/x"}, 400, "M_BAD_JSON"},
			{"another key beside a custom key", "org.example.job", map[string]any{"org.example.job": "spy", "org.example.other": 1}, 400, "M_BAD_JSON"},
			{"only another key", "displayname", map[string]any{"avatar_url": "mxc://hafen.test/x"}, 400, "M_MISSING_PARAM"},
			{"not JSON", "displayname", `{"displayname": "Mallory"`, 400, "M_BAD_JSON"},
			{"empty body", "org.example.job", ``, 400, "M_BAD_JSON"},
			{"displayname over 256 bytes", "displayname", map[string]any{"displayname": strings.Repeat("a", 257)}, 400, "M_INVALID_PARAM"},
			{"avatar_url over 1024 bytes", "avatar_url", map[string]any{"avatar_url": "mxc://hafen.test/" + strings.Repeat("a", 1024)}, 400, "M_INVALID_PARAM"},
		} {
			if got := e.do("PUT", field(tc.key), alice, tc.body); got.status != tc.status || got.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want %d %s", tc.name, got.status, got.raw, tc.status, tc.errcode)
			}
		}
		all := e.do("GET", base, "", nil)
		if !jsonEqual(all.body, map[string]any{"displayname": "Alice", "org.example.job": "pilot"}) {
			t.Errorf("profile after refused changes = %s, want it unchanged", all.raw)
		}
		e.expect(e.do("PUT", field("displayname"), alice, map[string]any{"displayname": strings.Repeat("a", 256)}), 200, "")
	})
}
