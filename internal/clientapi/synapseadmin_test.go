package clientapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/httpapi"
)

const noncePath = "/_synapse/admin/v1/register"

func TestRegisterNonceIsRateLimitedPerAddress(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(s *Server) {
		s.Registration = Registration{SharedSecret: "a-very-long-shared-secret"}
		s.Limiter = httpapi.NewRateLimiter(map[string]httpapi.Rate{ActionRegister: {PerSecond: 0.1, Burst: 2}})
		s.Limiter.Now = func() time.Time { return now }
	})
	get := func(addr string) int {
		req := httptest.NewRequest("GET", noncePath, nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i, want := range []int{200, 200, 429} {
		if got := get("192.0.2.7:1000"); got != want {
			t.Fatalf("GET nonce #%d from one address = %d, want %d", i+1, got, want)
		}
	}
	if got := get("192.0.2.8:1000"); got != 200 {
		t.Fatalf("GET nonce from another address = %d, want 200", got)
	}
	now = now.Add(10 * time.Second)
	if got := get("192.0.2.7:1000"); got != 200 {
		t.Fatalf("GET nonce after the bucket refilled = %d, want 200", got)
	}
}

func TestRegisterNoncesAreCapped(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(s *Server) {
		s.Registration = Registration{SharedSecret: "a-very-long-shared-secret"}
		s.Now = func() time.Time { return now }
	})
	var last string
	for range 2*maxNonces + 10 {
		r := e.do("GET", noncePath, "", nil)
		e.expect(r, 200, "")
		last = r.str("nonce")
	}
	if n := e.srv.nonces.len(); n > maxNonces {
		t.Fatalf("%d nonces kept, want at most %d", n, maxNonces)
	}
	if !e.srv.nonces.take(last, now) {
		t.Fatal("the newest nonce was dropped")
	}
	// Expired nonces go as new ones are made.
	now = now.Add(2 * nonceTTL)
	e.expect(e.do("GET", noncePath, "", nil), 200, "")
	if n := e.srv.nonces.len(); n != 1 {
		t.Fatalf("%d nonces kept after the others expired, want 1", n)
	}
}

func TestRegisterNonceWithoutSharedSecretIsNotFound(t *testing.T) {
	e := newEnv(t, nil)
	e.expect(e.do("GET", noncePath, "", nil), 404, "M_UNRECOGNIZED")
	e.expect(e.do("POST", noncePath, "", map[string]any{"nonce": "x"}), 404, "M_UNRECOGNIZED")
}
