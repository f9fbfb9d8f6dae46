package fedapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// echoRoute adds an authenticated PUT endpoint that answers with the
// origin and the body it was given, to test the middleware on requests
// with a body.
func echoRoute(s *Server, rt *httpapi.Router) {
	rt.Handle("PUT /_matrix/federation/v1/test_echo/{txnId}", s.authed(func(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
		body, _ := io.ReadAll(r.Body)
		return httpapi.OK(w, map[string]any{"origin": origin, "body": json.RawMessage(body)})
	}))
}

// TestVersion checks /_matrix/federation/v1/version through a signed
// request from another server.
func TestVersion(t *testing.T) {
	ctx := context.Background()
	b := startServer(t, sqliteOnly)
	a := startServer(t, sqliteOnly)
	var resp struct {
		Server struct{ Name, Version string } `json:"server"`
	}
	if err := a.client.DoJSON(ctx, federation.Request{Destination: b.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/version"}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Server.Name != "Hafen" || resp.Server.Version != "test" {
		t.Errorf("version = %+v, want Hafen test", resp.Server)
	}
	// The spec asks no authentication of /version: a plain GET is
	// answered too.
	plain, err := rawClient().Get("https://" + string(b.name) + "/_matrix/federation/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Body.Close()
	resp.Server.Name = ""
	if err := json.NewDecoder(plain.Body).Decode(&resp); err != nil || plain.StatusCode != 200 || resp.Server.Name != "Hafen" {
		t.Errorf("unsigned /version = %d %+v (%v), want 200 with the server's name", plain.StatusCode, resp.Server, err)
	}
}

// TestRequestAuthentication sends requests to B's federation listener,
// signed by A or forged, and checks B's answers.
func TestRequestAuthentication(t *testing.T) {
	ctx := context.Background()
	b := startServer(t, sqliteOnly, withRoutes(echoRoute))
	a := startServer(t, sqliteOnly)
	c := startServer(t, sqliteOnly)
	// future's clock is two days ahead: A's key response (valid for a day)
	// has expired there.
	future := startServer(t, sqliteOnly, withRoutes(echoRoute), withClockOffset(48*time.Hour))
	soon := startServer(t, sqliteOnly, withRoutes(echoRoute), withClockOffset(time.Hour))

	// A signed request through A's client is accepted, with its body.
	var echo struct {
		Origin id.ServerName   `json:"origin"`
		Body   json.RawMessage `json:"body"`
	}
	body := []byte(`{"pdus":[],"edus":[]}`)
	if err := a.client.DoJSON(ctx, federation.Request{Destination: b.name, Method: http.MethodPut, Path: "/_matrix/federation/v1/test_echo/1?x=1", Body: body}, &echo); err != nil {
		t.Fatalf("signed request = %v", err)
	}
	if echo.Origin != a.name || !bytes.Equal(echo.Body, body) {
		t.Errorf("echo = %s %s, want %s %s", echo.Origin, echo.Body, a.name, body)
	}

	// A request signed by gomatrixserverlib (Dendrite's library) with A's
	// key is accepted too.
	fr := fclient.NewFederationRequest(http.MethodPut, spec.ServerName(a.name), spec.ServerName(b.name), "/_matrix/federation/v1/test_echo/gmsl?x=1")
	if err := fr.SetContent(map[string]any{"pdus": []any{}, "edus": []any{}}); err != nil {
		t.Fatal(err)
	}
	if err := fr.Sign(spec.ServerName(a.name), gomatrixserverlib.KeyID(a.key.KeyID), a.key.Private); err != nil {
		t.Fatal(err)
	}
	hr, err := fr.HTTPRequest()
	if err != nil {
		t.Fatal(err)
	}
	hr.URL.Scheme, hr.URL.Host = "https", b.srv.Listener.Addr().String()
	if resp, err := rawClient().Do(hr.WithContext(ctx)); err != nil || resp.StatusCode != 200 {
		t.Errorf("request signed by gomatrixserverlib = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	type forged struct {
		name string
		// signed is what the signature covers; sent what is sent.
		signed, sent signing.Request
		key          signing.Key
		header       func(x signing.XMatrix) string
		to           *testServer
		wantStatus   int
		wantCode     string
	}
	send := signing.Request{Method: http.MethodPut, URI: "/_matrix/federation/v1/test_echo/1?x=1", Origin: a.name, Destination: b.name, Content: body}
	with := func(f func(r *signing.Request)) signing.Request { r := send; f(&r); return r }
	std := func(x signing.XMatrix) string { return x.Header() }
	cases := []forged{
		{name: "properly signed (control)", signed: send, sent: send, key: a.key, header: std, wantStatus: 200},
		{name: "unsigned", signed: send, sent: send, key: a.key, header: func(signing.XMatrix) string { return "" }, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "other scheme", signed: send, sent: send, key: a.key, header: func(signing.XMatrix) string { return "Bearer abc" }, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "malformed header", signed: send, sent: send, key: a.key, header: func(x signing.XMatrix) string { return `X-Matrix origin="` + string(x.Origin) }, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "wrong destination (addressed to C)", signed: with(func(r *signing.Request) { r.Destination = c.name }), sent: send, key: a.key, header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "no destination (older servers) is accepted", signed: send, sent: send, key: a.key,
			header: func(x signing.XMatrix) string { x.Destination = ""; return x.Header() }, wantStatus: 200},
		{name: "wrong origin: claims C, signed with A's key under C's key ID", signed: with(func(r *signing.Request) { r.Origin = c.name }), sent: send, key: reKey(a.key, c.name, c.key.KeyID), header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "wrong origin: claims C under A's key ID", signed: with(func(r *signing.Request) { r.Origin = c.name }), sent: send, key: reKey(a.key, c.name, a.key.KeyID), header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "origin nobody answers for", signed: with(func(r *signing.Request) { r.Origin = "127.0.0.1:1" }), sent: send, key: reKey(a.key, "127.0.0.1:1", a.key.KeyID), header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "tampered body", signed: send, sent: with(func(r *signing.Request) { r.Content = []byte(`{"pdus":[{}],"edus":[]}`) }), key: a.key, header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "body left out", signed: send, sent: with(func(r *signing.Request) { r.Content = nil }), key: a.key, header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "body replayed under another URI", signed: send, sent: with(func(r *signing.Request) { r.URI = "/_matrix/federation/v1/test_echo/2?x=1" }), key: a.key, header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "other query string", signed: send, sent: with(func(r *signing.Request) { r.URI = "/_matrix/federation/v1/test_echo/1?x=2" }), key: a.key, header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "body that is not JSON", signed: send, sent: with(func(r *signing.Request) { r.Content = []byte(`{"pdus":`) }), key: a.key, header: std, wantStatus: 400, wantCode: "M_NOT_JSON"},
		{name: "expired key (receiver two days later)", to: future, signed: with(func(r *signing.Request) { r.Destination = future.name }),
			sent: with(func(r *signing.Request) { r.Destination = future.name }), key: a.key, header: std, wantStatus: 401, wantCode: "M_UNAUTHORIZED"},
		{name: "key still valid (receiver an hour later, control)", to: soon, signed: with(func(r *signing.Request) { r.Destination = soon.name }),
			sent: with(func(r *signing.Request) { r.Destination = soon.name }), key: a.key, header: std, wantStatus: 200},
	}
	hc := rawClient()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			to := tc.to
			if to == nil {
				to = b
			}
			x, err := signing.SignRequest(tc.signed, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(ctx, tc.sent.Method, to.srv.URL+tc.sent.URI, bytes.NewReader(tc.sent.Content))
			if err != nil {
				t.Fatal(err)
			}
			if h := tc.header(x); h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Errcode string `json:"errcode"`
			}
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.wantStatus || e.Errcode != tc.wantCode {
				t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, e.Errcode, tc.wantStatus, tc.wantCode)
			}
		})
	}

	// Unknown federation endpoints answer 404 M_UNRECOGNIZED, signed or not.
	for _, path := range []string{"/_matrix/federation/v1/no/such/endpoint", "/_matrix/federation/v1/no/such/user/@u:x"} {
		resp, err := hc.Get(b.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Errcode string `json:"errcode"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 404 || e.Errcode != "M_UNRECOGNIZED" {
			t.Errorf("GET %s = %d %s, want 404 M_UNRECOGNIZED", path, resp.StatusCode, e.Errcode)
		}
	}
}

// reKey returns k's private key under another server name and key ID, to
// forge signatures.
func reKey(k signing.Key, server id.ServerName, keyID signing.KeyID) signing.Key {
	return signing.Key{ServerName: server, KeyID: keyID, Private: k.Private}
}

// TestContactedHook checks that the federation listener tells Contacted
// the origin of each authenticated request, and of no other.
func TestContactedHook(t *testing.T) {
	ctx := context.Background()
	b := startServer(t, sqliteOnly, withRoutes(echoRoute))
	a := startServer(t, sqliteOnly)
	var mu sync.Mutex
	var contacted []id.ServerName
	b.mu.Lock()
	b.api.Contacted = func(origin id.ServerName) {
		mu.Lock()
		contacted = append(contacted, origin)
		mu.Unlock()
	}
	b.mu.Unlock()

	resp, err := rawClient().Post("https://"+string(b.name)+"/_matrix/federation/v1/version", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	forged := `X-Matrix origin="` + string(a.name) + `",destination="` + string(b.name) + `",key="` + string(a.key.KeyID) + `",sig="AAAA"`
	req, _ := http.NewRequest(http.MethodGet, "https://"+string(b.name)+"/_matrix/federation/v1/version", nil)
	req.Header.Set("Authorization", forged)
	if resp, err = rawClient().Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("forged request = %d, want 401", resp.StatusCode)
	}
	mu.Lock()
	if len(contacted) != 0 {
		t.Errorf("unauthenticated requests reported as contacts: %v", contacted)
	}
	mu.Unlock()

	if err := a.client.DoJSON(ctx, federation.Request{Destination: b.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/version"}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(contacted) != 1 || contacted[0] != a.name {
		t.Errorf("contacts = %v, want [%s]", contacted, a.name)
	}
}
