package clientapi

import (
	"encoding/json"
	"slices"
	"testing"
)

// jsonEqual reports whether two values encode to the same JSON.
func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// TestCapabilitiesMatchEndpoints checks /capabilities against what the
// endpoints behind each capability do: every profile field it lets users
// change can be set and removed, another field is refused, the password
// can be changed, and capabilities of features Hafen lacks are disabled.
func TestCapabilitiesMatchEndpoints(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		reg := e.register("kim", "pw-kim")
		tok, user := reg.str("access_token"), reg.str("user_id")
		c := e.do("GET", "/_matrix/client/v3/capabilities", tok, nil)
		e.expect(c, 200, "")
		caps := func(name string) map[string]any {
			m, _ := lookup(c.body, "capabilities", name).(map[string]any)
			return m
		}

		pf := caps("m.profile_fields")
		if pf["enabled"] != true {
			t.Fatalf("m.profile_fields = %v, want enabled", pf)
		}
		if _, ok := pf["allowed"]; ok {
			t.Fatalf("m.profile_fields = %v: every field can be set, no allowed list", pf)
		}
		var disallowed []string
		for _, f := range pf["disallowed"].([]any) {
			disallowed = append(disallowed, f.(string))
		}
		values := map[string]any{"displayname": "Kim", "avatar_url": "mxc://hafen.test/kim", "m.tz": "Europe/Berlin",
			"org.example.colour": map[string]any{"name": "blue"}}
		for f, v := range values {
			path := "/_matrix/client/v3/profile/" + user + "/" + f
			r := e.do("PUT", path, tok, map[string]any{f: v})
			if slices.Contains(disallowed, f) {
				if r.status == 200 {
					t.Errorf("%s is disallowed but was stored", f)
				}
				continue
			}
			e.expect(r, 200, "")
			if got := e.do("GET", path, tok, nil); !jsonEqual(got.body[f], v) {
				t.Errorf("%s after PUT: %s", f, got.raw)
			}
			e.expect(e.do("DELETE", path, tok, nil), 200, "")
			e.expect(e.do("GET", path, tok, nil), 404, "M_NOT_FOUND")
		}
		// The deprecated capabilities agree with m.profile_fields.
		for name, field := range map[string]string{"m.set_displayname": "displayname", "m.set_avatar_url": "avatar_url"} {
			if caps(name)["enabled"] != !slices.Contains(disallowed, field) {
				t.Errorf("%s = %v, but m.profile_fields disallows %v", name, caps(name), disallowed)
			}
		}

		if caps("m.change_password")["enabled"] != true {
			t.Errorf("m.change_password = %v", caps("m.change_password"))
		}
		e.expect(e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{
			"new_password": "pw-kim-2", "logout_devices": false,
			"auth": map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "kim"}, "password": "pw-kim"},
		}), 200, "")

		// No 3PIDs can be added; login tokens are not configured here.
		for _, name := range []string{"m.3pid_changes", "m.get_login_token"} {
			if caps(name)["enabled"] != false {
				t.Errorf("%s = %v, want disabled", name, caps(name))
			}
		}
		e.expect(e.do("POST", "/_matrix/client/v1/login/get_token", tok, map[string]any{}), 400, "M_UNKNOWN")
		e.expect(e.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", map[string]any{
			"client_secret": "s", "email": "kim@example.org", "send_attempt": 1,
		}), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	})
}
