package clientapi

import (
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/account"
)

// TestRefreshTokens follows Client-Server API § Refreshing access tokens
// (spec v1.3): off by default; on, a client that asks gets an expiring
// access token and a refresh token, an expired token is 401
// M_UNKNOWN_TOKEN with soft_logout, and a refresh token stays valid until
// the new access token or refresh token is used (a retry replaces the
// pair it made before).
func TestRefreshTokens(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		var mu sync.Mutex
		now := time.Now()
		e.srv.Store.(*account.Service).Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		e.register("alice", "pw-alice")
		loginBody := func(refresh bool) map[string]any {
			return map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"},
				"password": "pw-alice", "refresh_token": refresh}
		}
		whoami := func(tok string) resp {
			t.Helper()
			return e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil)
		}
		refresh := func(tok string) resp {
			t.Helper()
			return e.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": tok})
		}

		// Off: no refresh token, access tokens never expire.
		off := e.do("POST", "/_matrix/client/v3/login", "", loginBody(true))
		e.expect(off, 200, "")
		if off.str("refresh_token") != "" || off.body["expires_in_ms"] != nil {
			t.Errorf("refresh tokens off, login = %s", off.raw)
		}
		e.expect(refresh("anything"), 401, "M_UNKNOWN_TOKEN")

		e.srv.AccessTokenLifetime = 5 * time.Minute
		plain := e.do("POST", "/_matrix/client/v3/login", "", loginBody(false))
		e.expect(plain, 200, "")
		if plain.str("refresh_token") != "" {
			t.Errorf("a client that did not ask got a refresh token: %s", plain.raw)
		}
		first := e.do("POST", "/_matrix/client/v3/login", "", loginBody(true))
		e.expect(first, 200, "")
		a1, r1 := first.str("access_token"), first.str("refresh_token")
		if r1 == "" || first.body["expires_in_ms"] != float64(300000) {
			t.Fatalf("login asking for a refresh token = %s", first.raw)
		}
		e.expect(whoami(a1), 200, "")

		advance(6 * time.Minute)
		expired := whoami(a1)
		e.expect(expired, 401, "M_UNKNOWN_TOKEN")
		if expired.body["soft_logout"] != true {
			t.Errorf("expired access token = %s, want soft_logout true", expired.raw)
		}
		e.expect(whoami(plain.str("access_token")), 200, "")

		second := refresh(r1)
		e.expect(second, 200, "")
		a2, r2 := second.str("access_token"), second.str("refresh_token")
		if a2 == "" || r2 == "" || r2 == r1 || second.body["expires_in_ms"] != float64(300000) {
			t.Fatalf("refresh = %s", second.raw)
		}
		// The answer was lost: the client retries with r1, which is still
		// valid; the pair of the first try goes.
		third := refresh(r1)
		e.expect(third, 200, "")
		a3, r3 := third.str("access_token"), third.str("refresh_token")
		e.expect(refresh(r2), 401, "M_UNKNOWN_TOKEN")
		e.expect(whoami(a2), 401, "M_UNKNOWN_TOKEN")
		// Using the new access token revokes r1.
		if who := whoami(a3); who.str("user_id") != "@alice:hafen.test" || who.str("device_id") != first.str("device_id") {
			t.Errorf("whoami with the refreshed token = %s, want alice's first device", who.raw)
		}
		e.expect(refresh(r1), 401, "M_UNKNOWN_TOKEN")
		// Using the new refresh token revokes the one before.
		fourth := refresh(r3)
		e.expect(fourth, 200, "")
		e.expect(refresh(fourth.str("refresh_token")), 200, "")
		e.expect(refresh(r3), 401, "M_UNKNOWN_TOKEN")
		e.expect(whoami(a3), 401, "M_UNKNOWN_TOKEN")

		reg := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "bob", "password": "pw", "refresh_token": true})
		body := map[string]any{"username": "bob", "password": "pw", "refresh_token": true,
			"auth": map[string]any{"type": "m.login.dummy", "session": reg.str("session")}}
		reg = e.do("POST", "/_matrix/client/v3/register", "", body)
		e.expect(reg, 200, "")
		if reg.str("refresh_token") == "" || reg.body["expires_in_ms"] != float64(300000) {
			t.Errorf("register asking for a refresh token = %s", reg.raw)
		}
		e.expect(e.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{}), 400, "M_MISSING_PARAM")
	})
}
