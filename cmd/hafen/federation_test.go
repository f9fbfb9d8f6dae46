package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/testnet"
)

// freeAddr returns a loopback address that was free a moment ago, so a
// server can be named after the address it will listen on.
func freeAddr(t testing.TB) string {
	t.Helper()
	return testnet.FreeAddr(t)
}

// startFederating runs `hafen serve` named after its federation address
// and returns that address and its logs.
func startFederating(t *testing.T, extra ...string) (id.ServerName, *syncBuffer) {
	t.Helper()
	name, logs, _ := startFederatingIn(t, filepath.Join(t.TempDir(), "data"), extra...)
	return name, logs
}

// startFederatingIn is startFederating with the data directory given.
func startFederatingIn(t *testing.T, dataDir string, extra ...string) (id.ServerName, *syncBuffer, string) {
	t.Helper()
	addr := freeAddr(t)
	logs, _ := serveFederating(t, dataDir, addr, extra...)
	return id.ServerName(addr), logs, dataDir
}

func getFederationJSON(t *testing.T, url string, out any) int {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

// TestServeFederationKeys runs two servers: each publishes its signed keys
// on the federation listener, answers unsigned federation requests with
// 401, and, as a notary, fetches the other's keys over TLS when private
// addresses and unverified certificates are allowed, and refuses to
// otherwise.
func TestServeFederationKeys(t *testing.T) {
	test := []string{"--federation-allow-private", "--federation-skip-tls-verify"}
	a, logsA := startFederating(t, test...)
	b, _ := startFederating(t, test...)
	strict, _ := startFederating(t)

	var own json.RawMessage
	if st := getFederationJSON(t, "https://"+string(a)+"/_matrix/key/v2/server", &own); st != 200 {
		t.Fatalf("GET key/v2/server = %d", st)
	}
	if _, err := signing.ParseKeyResponse(own, a, time.Now().UnixMilli()); err != nil {
		t.Errorf("key response of A: %v", err)
	}
	var e struct {
		Errcode string `json:"errcode"`
	}
	// /version is open to anyone; the other endpoints need a signature.
	if st := getFederationJSON(t, "https://"+string(a)+"/_matrix/federation/v1/version", &struct{}{}); st != 200 {
		t.Errorf("unsigned GET /version = %d, want 200", st)
	}
	if st := getFederationJSON(t, "https://"+string(a)+"/_matrix/federation/v1/query/profile?user_id=@x:"+string(a), &e); st != 401 || e.Errcode != "M_UNAUTHORIZED" {
		t.Errorf("unsigned GET /query/profile = %d %s, want 401 M_UNAUTHORIZED", st, e.Errcode)
	}
	if !strings.Contains(logsA.String(), "federation_skip_tls_verify is on") {
		t.Errorf("no warning about federation_skip_tls_verify in the log:\n%s", logsA.String())
	}

	var q struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if st := getFederationJSON(t, "https://"+string(a)+"/_matrix/key/v2/query/"+string(b), &q); st != 200 || len(q.ServerKeys) != 1 {
		t.Fatalf("A: query keys of B = %d, %d responses; want 200 with one", st, len(q.ServerKeys))
	}
	if _, err := signing.ParseKeyResponse(q.ServerKeys[0], b, time.Now().UnixMilli()); err != nil {
		t.Errorf("B's keys through A: %v", err)
	}
	var sigs struct {
		Signatures map[id.ServerName]map[string]string `json:"signatures"`
	}
	json.Unmarshal(q.ServerKeys[0], &sigs)
	if len(sigs.Signatures[a]) != 1 || len(sigs.Signatures[b]) != 1 {
		t.Errorf("B's keys through A are signed by %v, want A and B", sigs.Signatures)
	}

	// Without --federation-allow-private, loopback is out of reach.
	q.ServerKeys = nil
	if st := getFederationJSON(t, "https://"+string(strict)+"/_matrix/key/v2/query/"+string(b), &q); st != 200 || len(q.ServerKeys) != 0 {
		t.Errorf("strict server: query keys of B = %d, %d responses; want 200 with none", st, len(q.ServerKeys))
	}
}

// TestServeFederationTrustCA checks certificate verification on the real
// wiring: a server that trusts B's self-signed certificate (--trust-ca)
// fetches B's keys; one that does not, fails to.
func TestServeFederationTrustCA(t *testing.T) {
	b, _, dirB := startFederatingIn(t, filepath.Join(t.TempDir(), "b"), "--federation-allow-private")
	trusting, _ := startFederating(t, "--federation-allow-private", "--trust-ca", filepath.Join(dirB, "tls.crt"))
	untrusting, _ := startFederating(t, "--federation-allow-private")
	for _, tc := range []struct {
		notary id.ServerName
		want   int
	}{{trusting, 1}, {untrusting, 0}} {
		var q struct {
			ServerKeys []json.RawMessage `json:"server_keys"`
		}
		if st := getFederationJSON(t, "https://"+string(tc.notary)+"/_matrix/key/v2/query/"+string(b), &q); st != 200 || len(q.ServerKeys) != tc.want {
			t.Errorf("query keys of B through %s = %d with %d responses, want 200 with %d", tc.notary, st, len(q.ServerKeys), tc.want)
		}
	}
}
