package clientapi

import (
	"net/http"
	"strings"
	"testing"
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
	})
}
