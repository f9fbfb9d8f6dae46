package clientapi

import "testing"

// TestLoginApplicationServiceUnauthorized follows the Application Service
// API (Server admin style permissions): a login of type
// m.login.application_service without a valid as_token is 401 with
// M_MISSING_TOKEN (no access token) or M_UNKNOWN_TOKEN (a token that is no
// application service's). No application service is registered, so a
// user's own access token is unknown as an as_token too.
func TestLoginApplicationServiceUnauthorized(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, userToken := e.user("alice")
		body := map[string]any{"type": "m.login.application_service", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}}
		for _, tc := range []struct {
			name, path, token, errcode string
		}{
			{"no access token", "/_matrix/client/v3/login", "", "M_MISSING_TOKEN"},
			{"an unknown token", "/_matrix/client/v3/login", "not-an-as-token", "M_UNKNOWN_TOKEN"},
			{"a user's access token", "/_matrix/client/v3/login", userToken, "M_UNKNOWN_TOKEN"},
			{"a token in the query", "/_matrix/client/v3/login?access_token=not-an-as-token", "", "M_UNKNOWN_TOKEN"},
		} {
			if got := e.do("POST", tc.path, tc.token, body); got.status != 401 || got.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want 401 %s", tc.name, got.status, got.raw, tc.errcode)
			}
		}
	})
}
