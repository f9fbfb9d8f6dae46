package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
)

// recordingPeer is another server on a loopback TLS listener, named after
// its address: it publishes its signing key, and records the transactions
// it is sent after checking their signature with the sender's key, keeping
// each transaction ID once as a server does. While down it answers 503.
type recordingPeer struct {
	fedPeer
	sender signing.Key

	mu   sync.Mutex
	down bool
	txns map[string][]json.RawMessage
	bad  []string
	// devices answers GET /user/devices/{userId}; devicesAsked counts
	// those requests.
	devices      []byte
	devicesAsked int
}

func startRecordingPeer(t *testing.T, sender signing.Key) *recordingPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	name := id.ServerName(ln.Addr().String())
	key, err := signing.GenerateKey(rand.Reader, name, "ed25519:rec")
	if err != nil {
		t.Fatal(err)
	}
	c := federation.New(federation.Config{ServerName: name, Key: key, AllowPrivate: true, SkipTLSVerify: true})
	t.Cleanup(c.Close)
	p := &recordingPeer{fedPeer: fedPeer{name: name, key: key, client: c, depth: 1000}, sender: sender, txns: map[string][]json.RawMessage{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return p
}

func (p *recordingPeer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_matrix/key/v2/server" {
		obj, _ := json.Marshal(map[string]any{
			"server_name":     p.name,
			"valid_until_ts":  time.Now().Add(24 * time.Hour).UnixMilli(),
			"verify_keys":     map[string]any{string(p.key.KeyID): map[string]string{"key": base64.RawStdEncoding.EncodeToString(p.key.Public())}},
			"old_verify_keys": map[string]any{},
		})
		signed, err := signing.SignJSON(obj, p.key)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(signed)
		return
	}
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/user/devices/") && p.devices != nil {
		p.devicesAsked++
		w.Header().Set("Content-Type", "application/json")
		w.Write(p.devices)
		return
	}
	txnID, ok := strings.CutPrefix(r.URL.Path, "/_matrix/federation/v1/send/")
	if p.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/_matrix/federation/v1/version" {
		// A sender's probe while it backs off.
		w.Write([]byte(`{"server":{"name":"recording peer"}}`))
		return
	}
	x, err := signing.ParseXMatrix(r.Header.Get("Authorization"))
	if err == nil {
		err = signing.VerifyRequest(signing.Request{Method: r.Method, URI: r.RequestURI, Origin: x.Origin, Destination: x.Destination, Content: body}, x, p.sender.Public())
	}
	var txn struct {
		PDUs []json.RawMessage `json:"pdus"`
	}
	if err == nil {
		err = json.Unmarshal(body, &txn)
	}
	if !ok || r.Method != http.MethodPut || err != nil || x.Destination != p.name {
		p.bad = append(p.bad, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if _, seen := p.txns[txnID]; !seen {
		p.txns[txnID] = txn.PDUs
	}
	w.Write([]byte(`{"pdus":{}}`))
}

// bodies returns how often each message body arrived over distinct
// transactions.
func (p *recordingPeer) bodies() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, pdus := range p.txns {
		for _, raw := range pdus {
			var e struct {
				Type    string `json:"type"`
				Content struct {
					Body string `json:"body"`
				} `json:"content"`
			}
			json.Unmarshal(raw, &e)
			if e.Type == "m.room.message" {
				out[e.Content.Body]++
			}
		}
	}
	return out
}

// TestFederationSenderEndToEnd: a user of a recording server joins a room
// of a real server A through make_join/send_join; A's messages reach it
// through A's federation sender. While it is down, messages wait; A
// restarts meanwhile; when it is back and contacts A, each message arrives
// exactly once, and `hafen federation status` shows the destination
// caught up.
func TestFederationSenderEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			addr := freeAddr(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{
				"--server-name", addr, "--listen-federation", addr,
				"--open-registration", "--rate-limit=false",
				"--federation-allow-private", "--federation-skip-tls-verify",
			}, dbArgs(t)...)
			base, stop, logs, _ := startServeInfo(t, dataDir, args...)
			a := id.ServerName(addr)
			raw, err := os.ReadFile(filepath.Join(dataDir, "signing.key"))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := signing.ParseKeyFile(raw, a)
			if err != nil {
				t.Fatal(err)
			}
			p := startRecordingPeer(t, keys[0])

			alice := register(t, base, "alice")
			roomID := createPublicRoom(t, base, alice.AccessToken)
			rq := url.PathEscape(string(roomID))
			bob := id.UserID("@bob:" + string(p.name))
			var m makeResp
			if st, code := p.fedGet(t, a, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape(string(bob))+"?"+allVersions(), nil, &m); st != 200 {
				t.Fatalf("make_join = %d %s", st, code)
			}
			join := p.fromTemplate(t, m)
			if st, code := p.fedGet(t, a, "PUT", "/_matrix/federation/v2/send_join/"+rq+"/"+url.PathEscape(string(join.EventID())), join.JSON(), nil); st != 200 {
				t.Fatalf("send_join = %d %s", st, code)
			}

			send := func(base, token, body string) {
				t.Helper()
				path := "/_matrix/client/v3/rooms/" + rq + "/send/m.room.message/" + url.PathEscape(body)
				csCall(t, base, token, http.MethodPut, path, map[string]any{"msgtype": "m.text", "body": body}, &struct{}{})
			}
			send(base, alice.AccessToken, "while up")
			waitBodies(t, p, "while up")

			p.mu.Lock()
			p.down = true
			p.mu.Unlock()
			send(base, alice.AccessToken, "while down 1")
			send(base, alice.AccessToken, "while down 2")
			// Both wait in A's queue, and A has failed to deliver them.
			waitStatus(t, dataDir, args, func(f []string) bool { return f[0] == string(p.name) && f[1] == "2" && f[2] != "0" })
			if err := stop(); err != nil {
				t.Fatalf("stop A: %v\n%s", err, logs.String())
			}
			if l := logs.String(); !strings.Contains(l, "level=WARN msg=\"federation transaction failed\" destination="+string(p.name)) {
				t.Errorf("no warning naming the failing destination in the log:\n%s", l)
			}

			base, _, logs, _ = startServeInfo(t, dataDir, args...)
			send(base, alice.AccessToken, "after restart")
			p.mu.Lock()
			p.down = false
			p.mu.Unlock()
			// The peer's requests to A end A's backoff.
			if st, code := p.fedGet(t, a, "GET", "/_matrix/federation/v1/version", nil, &struct{}{}); st != 200 {
				t.Fatalf("GET /version = %d %s", st, code)
			}
			waitBodies(t, p, "while up", "while down 1", "while down 2", "after restart")
			for body, n := range p.bodies() {
				if n != 1 {
					t.Errorf("%q arrived %d times, want once", body, n)
				}
			}
			p.mu.Lock()
			if len(p.bad) > 0 {
				t.Errorf("bad requests at the peer: %v", p.bad)
			}
			p.mu.Unlock()

			// The queue drains after the answer.
			waitStatus(t, dataDir, args, func(f []string) bool {
				return f[0] == string(p.name) && f[1] == "0" && f[2] == "0" && f[3] != "never" && f[4] == "-"
			})
		})
	}
}

// dbArgs2 returns the --database flag of serve's arguments, for the admin
// commands.
func dbArgs2(args []string) []string {
	for i, a := range args {
		if a == "--database" && i+1 < len(args) {
			return args[i : i+2]
		}
	}
	return nil
}

// waitStatus runs `hafen federation status` until its one destination's
// fields satisfy ok.
func waitStatus(t *testing.T, dataDir string, args []string, ok func(fields []string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status bytes.Buffer
		if err := run(context.Background(), append([]string{"federation", "status", "--data-dir", dataDir}, dbArgs2(args)...), noEnv, nil, &status, io.Discard); err != nil {
			t.Fatalf("federation status: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(status.String()), "\n")
		if len(lines) == 2 && ok(strings.Fields(lines[1])) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("federation status:\n%s", status.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitBodies(t *testing.T, p *recordingPeer, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := p.bodies()
		missing := 0
		for _, b := range want {
			if got[b] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer received %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
