package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestThirdPartyProtocols checks that the protocol list is an empty object
// while no bridge is registered, and that it needs an access token.
func TestThirdPartyProtocols(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		at := e.register("alice", "pw-alice").str("access_token")
		const path = "/_matrix/client/v3/thirdparty/protocols"
		got := e.do("GET", path, at, nil)
		e.expect(got, http.StatusOK, "")
		if strings.TrimSpace(got.raw) != `{}` {
			t.Errorf("protocols = %s, want {}", got.raw)
		}
		e.expect(e.do("GET", path, "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
		// The r0 path old bridges call behaves the same.
		e.expect(e.do("GET", "/_matrix/client/r0/thirdparty/protocols", at, nil), http.StatusOK, "")
		// Lookups find nothing: 404 M_NOT_FOUND, the spec's answer for an
		// unknown protocol, portal or user (the endpoints exist).
		for _, p := range []string{"protocol/irc", "location/irc?channel=x", "user/irc?nick=x", "location?alias=%23a:b", "user?userid=@a:b"} {
			e.expect(e.do("GET", "/_matrix/client/v3/thirdparty/"+p, at, nil), http.StatusNotFound, "M_NOT_FOUND")
		}
	})
}

// TestAccount3PIDs checks that an account lists no 3PIDs, that asking
// to validate an email address or phone number is refused as a medium the
// server does not support, after the body is checked as JSON, and that
// adding, binding, deleting and unbinding one answer as a server without
// 3PID changes or identity servers must.
func TestAccount3PIDs(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		at := e.register("alice", "pw-alice").str("access_token")
		const path = "/_matrix/client/v3/account/3pid"
		got := e.do("GET", path, at, nil)
		e.expect(got, http.StatusOK, "")
		if strings.TrimSpace(got.raw) != `{"threepids":[]}` {
			t.Errorf("3pids = %s, want {\"threepids\":[]}", got.raw)
		}
		e.expect(e.do("GET", path, "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")

		email := map[string]any{"client_secret": "s3cr3t", "email": "alice@example.org", "send_attempt": 1}
		msisdn := map[string]any{"client_secret": "s3cr3t", "country": "GB", "phone_number": "07700900001", "send_attempt": 1}
		e.expect(e.do("POST", path+"/email/requestToken", "", email), http.StatusBadRequest, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
		e.expect(e.do("POST", path+"/msisdn/requestToken", "", msisdn), http.StatusBadRequest, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
		e.expect(e.do("POST", path+"/email/requestToken", "", `{`), http.StatusBadRequest, "M_NOT_JSON")
		e.expect(e.do("POST", path+"/msisdn/requestToken", "", `[1]`), http.StatusBadRequest, "M_BAD_JSON")
		e.expect(e.do("POST", path+"/email/requestToken", "", `{"send_attempt":"one"}`), http.StatusBadRequest, "M_BAD_JSON")

		// Adding or deleting a 3PID: m.3pid_changes is disabled; binding
		// needs an identity server, and Hafen trusts none; unbinding knows
		// no identity server to ask.
		add := map[string]any{"client_secret": "s3cr3t", "sid": "abc"}
		e.expect(e.do("POST", path+"/add", at, add), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("POST", path+"/add", at, map[string]any{"sid": "abc"}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("POST", path+"/add", "", add), http.StatusUnauthorized, "M_MISSING_TOKEN")
		bind := map[string]any{"client_secret": "s3cr3t", "sid": "abc", "id_server": "id.example.org", "id_access_token": "tok"}
		e.expect(e.do("POST", path+"/bind", at, bind), http.StatusBadRequest, "M_SERVER_NOT_TRUSTED")
		e.expect(e.do("POST", path+"/bind", at, map[string]any{"client_secret": "s3cr3t", "sid": "abc"}), http.StatusBadRequest, "M_MISSING_PARAM")
		remove := map[string]any{"medium": "email", "address": "alice@example.org"}
		e.expect(e.do("POST", path+"/delete", at, remove), http.StatusForbidden, "M_FORBIDDEN")
		got = e.do("POST", path+"/unbind", at, remove)
		e.expect(got, http.StatusOK, "")
		if got.str("id_server_unbind_result") != "no-support" {
			t.Errorf("unbind = %s, want id_server_unbind_result no-support", got.raw)
		}
		e.expect(e.do("POST", path+"/unbind", at, map[string]any{"medium": "carrier-pigeon", "address": "x"}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", path+"/delete", at, map[string]any{"medium": "email"}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("POST", path+"/unbind", at, `[1]`), http.StatusBadRequest, "M_BAD_JSON")
	})
}

// TestTurnServer checks that, with no TURN server configured, the
// credentials are an empty object and need an access token.
func TestTurnServer(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		at := e.register("alice", "pw-alice").str("access_token")
		const path = "/_matrix/client/v3/voip/turnServer"
		got := e.do("GET", path, at, nil)
		e.expect(got, http.StatusOK, "")
		if strings.TrimSpace(got.raw) != `{}` {
			t.Errorf("turnServer = %s, want {}", got.raw)
		}
		e.expect(e.do("GET", path, "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")

		// With a shared secret: the coturn REST scheme, valid for the
		// configured lifetime from the server's clock.
		now := time.Unix(1_700_000_000, 0)
		e.srv.Now = func() time.Time { return now }
		uris := []string{"turns:turn.example.org:5349?transport=tcp"}
		e.srv.TURN = TURN{URIs: uris, SharedSecret: "s3cret", Lifetime: time.Hour}
		got = e.do("GET", path, at, nil)
		e.expect(got, http.StatusOK, "")
		wantUser := "1700003600:@alice:hafen.test"
		// base64(HMAC-SHA1("s3cret", wantUser)), computed independently.
		mac := hmac.New(sha1.New, []byte("s3cret"))
		mac.Write([]byte(wantUser))
		wantPass := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if got.str("username") != wantUser || got.str("password") != wantPass || got.body["ttl"] != float64(3600) {
			t.Errorf("turnServer = %s, want user %s password %s ttl 3600", got.raw, wantUser, wantPass)
		}
		if u, _ := got.body["uris"].([]any); len(u) != 1 || u[0] != uris[0] {
			t.Errorf("uris = %v, want %v", got.body["uris"], uris)
		}

		// With fixed credentials.
		e.srv.TURN = TURN{URIs: uris, Username: "calls", Password: "pw", Lifetime: time.Hour}
		got = e.do("GET", path, at, nil)
		if got.str("username") != "calls" || got.str("password") != "pw" || got.body["ttl"] != float64(3600) {
			t.Errorf("turnServer = %s, want the fixed credentials", got.raw)
		}
	})
}
