package clientapi

import (
	"strings"
	"testing"
	"time"
)

// TestLoginToken follows Client-Server API § POST /login/get_token
// (spec v1.7) and the m.login.token login type: off by default (404,
// no flow, capability false); on, a signed-in user who passes UIA every
// time gets a single-use token another device logs in with as them.
func TestLoginToken(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		getToken := func(body map[string]any) resp {
			t.Helper()
			return e.do("POST", "/_matrix/client/v1/login/get_token", tok, body)
		}
		capability := func() any {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/capabilities", tok, nil)
			e.expect(res, 200, "")
			return res.body["capabilities"].(map[string]any)["m.get_login_token"].(map[string]any)["enabled"]
		}
		flows := func() string {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/login", "", nil)
			e.expect(res, 200, "")
			return res.raw
		}

		e.expect(getToken(map[string]any{}), 400, "M_UNKNOWN") // login_token.yaml: the user may not
		if capability() != false || strings.Contains(flows(), "m.login.token") {
			t.Errorf("login tokens off: capability %v, flows %s", capability(), flows())
		}

		e.srv.LoginTokenLifetime = 2 * time.Minute
		if capability() != true || !strings.Contains(flows(), `{"get_login_token":true,"type":"m.login.token"}`) {
			t.Errorf("login tokens on: capability %v, flows %s", capability(), flows())
		}
		challenge := getToken(map[string]any{})
		e.expect(challenge, 401, "")
		if challenge.str("session") == "" {
			t.Fatalf("get_token without auth = %s, want a UIA challenge", challenge.raw)
		}
		bad := getToken(map[string]any{"auth": passwordAuth("alice", "wrong", challenge.str("session"))})
		e.expect(bad, 401, "M_FORBIDDEN")
		ok := getToken(map[string]any{"auth": passwordAuth("alice", "pw-alice", challenge.str("session"))})
		e.expect(ok, 200, "")
		loginToken := ok.str("login_token")
		if loginToken == "" || ok.body["expires_in_ms"] != float64(120000) {
			t.Fatalf("get_token = %s", ok.raw)
		}
		// UIA is asked again for the next token.
		e.expect(getToken(map[string]any{}), 401, "")

		login := func(body map[string]any) resp {
			t.Helper()
			return e.do("POST", "/_matrix/client/v3/login", "", body)
		}
		res := login(map[string]any{"type": "m.login.token", "token": loginToken, "initial_device_display_name": "New phone"})
		e.expect(res, 200, "")
		if res.str("user_id") != "@alice:hafen.test" || res.str("access_token") == "" || res.str("access_token") == tok {
			t.Errorf("login with the token = %s", res.raw)
		}
		who := e.do("GET", "/_matrix/client/v3/account/whoami", res.str("access_token"), nil)
		if who.str("user_id") != "@alice:hafen.test" {
			t.Errorf("whoami with the new access token = %s", who.raw)
		}
		e.expect(login(map[string]any{"type": "m.login.token", "token": loginToken}), 403, "M_FORBIDDEN")
		e.expect(login(map[string]any{"type": "m.login.token", "token": "made-up"}), 403, "M_FORBIDDEN")
		e.expect(login(map[string]any{"type": "m.login.token"}), 400, "M_MISSING_PARAM")
		e.expect(e.do("POST", "/_matrix/client/v1/login/get_token", "", map[string]any{}), 401, "M_MISSING_TOKEN")
	})
}
