package clientapi

import (
	"net/url"
	"strings"
	"testing"
)

// TestExtendedProfileFields follows the extended profile (spec v1.16):
// any namespaced key takes any JSON value, null included; GET of the
// profile returns every field; keys over 255 bytes are M_KEY_TOO_LARGE; a
// change that would make the profile exceed 64 KiB is
// M_PROFILE_TOO_LARGE and stores nothing; m.tz, displayname and
// avatar_url must be strings; only the owner may change them; erasure
// removes them.
func TestExtendedProfileFields(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, alice := e.user("alice")
		_, bob := e.user("bob")
		base := "/_matrix/client/v3/profile/" + url.PathEscape("@alice:hafen.test")
		field := func(k string) string { return base + "/" + k }

		e.expect(e.do("PUT", field("displayname"), alice, map[string]any{"displayname": "Alice"}), 200, "")
		e.expect(e.do("PUT", field("m.tz"), alice, map[string]any{"m.tz": "Europe/Berlin"}), 200, "")
		e.expect(e.do("PUT", field("org.example.job"), alice, map[string]any{"org.example.job": map[string]any{"title": "pilot", "years": 3}}), 200, "")
		e.expect(e.do("PUT", field("org.example.empty"), alice, `{"org.example.empty": null}`), 200, "")

		all := e.do("GET", base, "", nil)
		e.expect(all, 200, "")
		if !jsonEqual(all.body, map[string]any{
			"displayname": "Alice", "m.tz": "Europe/Berlin",
			"org.example.job": map[string]any{"title": "pilot", "years": 3}, "org.example.empty": nil,
		}) {
			t.Errorf("whole profile = %s", all.raw)
		}
		if got := e.do("GET", field("org.example.job"), bob, nil); got.status != 200 || !jsonEqual(got.body, map[string]any{"org.example.job": map[string]any{"title": "pilot", "years": 3}}) {
			t.Errorf("one field = %d %s", got.status, got.raw)
		}
		if got := e.do("GET", field("org.example.empty"), bob, nil); got.status != 200 || got.raw != `{"org.example.empty":null}` {
			t.Errorf("null field = %d %s", got.status, got.raw)
		}

		// Refusals.
		longKey := "org." + strings.Repeat("k", 252)
		e.expect(e.do("PUT", field(longKey), alice, map[string]any{longKey: 1}), 400, "M_KEY_TOO_LARGE")
		e.expect(e.do("GET", field(longKey), alice, nil), 400, "M_KEY_TOO_LARGE")
		e.expect(e.do("PUT", field("Org.Bad"), alice, map[string]any{"Org.Bad": 1}), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", field("m.tz"), alice, map[string]any{"m.tz": 60}), 400, "M_BAD_JSON")
		e.expect(e.do("PUT", field("org.example.job"), alice, map[string]any{"other": 1}), 400, "M_MISSING_PARAM")
		e.expect(e.do("PUT", field("org.example.job"), bob, map[string]any{"org.example.job": 1}), 403, "M_FORBIDDEN")
		e.expect(e.do("DELETE", field("org.example.job"), bob, nil), 403, "M_FORBIDDEN")

		// 64 KiB for the whole profile: a value that fits alone, then one
		// more field that would cross the limit.
		big := strings.Repeat("x", 60<<10)
		e.expect(e.do("PUT", field("org.example.big"), alice, map[string]any{"org.example.big": big}), 200, "")
		more := strings.Repeat("y", 5<<10)
		e.expect(e.do("PUT", field("org.example.more"), alice, map[string]any{"org.example.more": more}), 400, "M_PROFILE_TOO_LARGE")
		e.expect(e.do("PUT", field("org.example.big"), alice, map[string]any{"org.example.big": big + more}), 400, "M_PROFILE_TOO_LARGE")
		e.expect(e.do("PUT", field("org.example.more"), alice, map[string]any{"org.example.more": 1}), 200, "")
		e.expect(e.do("GET", field("org.example.big"), alice, nil), 200, "")
		// A body far over the limit is refused before it is read whole.
		e.expect(e.do("PUT", field("org.example.huge"), alice, map[string]any{"org.example.huge": strings.Repeat("z", 200<<10)}), 413, "M_TOO_LARGE")

		// Deletion.
		e.expect(e.do("DELETE", field("org.example.big"), alice, nil), 200, "")
		e.expect(e.do("GET", field("org.example.big"), alice, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("DELETE", field("org.example.big"), alice, nil), 200, "")
		e.expect(e.do("GET", field("org.example.job"), alice, nil), 200, "")
		e.expect(e.do("GET", "/_matrix/client/v3/profile/"+url.PathEscape("@nobody:hafen.test")+"/m.tz", alice, nil), 404, "M_NOT_FOUND")
	})
}

// TestProfileTimeZoneChecked follows PUT /profile/{userId}/m.tz (spec
// v1.16): the value must be an identifier of the IANA Time Zone Database;
// anything else is 400 M_INVALID_PARAM and leaves the stored zone as it
// was.
func TestProfileTimeZoneChecked(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, alice := e.user("alice")
		tz := "/_matrix/client/v3/profile/" + url.PathEscape("@alice:hafen.test") + "/m.tz"
		for _, good := range []string{"Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Asia/Kolkata"} {
			e.expect(e.do("PUT", tz, alice, map[string]any{"m.tz": good}), 200, "")
		}
		for _, bad := range []string{"Europe/Atlantis", "", "Local", "berlin", "../../etc/passwd", "/etc/localtime", "Europe/Berlin ", "zone.tab"} {
			if got := e.do("PUT", tz, alice, map[string]any{"m.tz": bad}); got.status != 400 || got.str("errcode") != "M_INVALID_PARAM" {
				t.Errorf("m.tz %q = %d %s, want 400 M_INVALID_PARAM", bad, got.status, got.raw)
			}
		}
		if got := e.do("GET", tz, alice, nil); got.str("m.tz") != "Asia/Kolkata" {
			t.Errorf("m.tz after refused changes = %s, want Asia/Kolkata", got.raw)
		}
	})
}
