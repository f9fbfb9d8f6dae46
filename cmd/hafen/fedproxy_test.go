package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// fedProxy stands between a server's federation listener and every other
// server: the server is named after the proxy's address, so all
// federation traffic to it passes the proxy, which a test can cut (a
// network partition) and restore.
type fedProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]bool
}

func startFedProxy(t *testing.T, target string) *fedProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFedProxy(t, ln, target)
}

// serveFedProxy relays the connections ln accepts to target.
func serveFedProxy(t *testing.T, ln net.Listener, target string) *fedProxy {
	t.Helper()
	p := &fedProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.setBlocked(true)
	})
	go p.serve()
	return p
}

func (p *fedProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.relay(c)
	}
}

// relay copies a connection to the target and back, unless the proxy is
// blocked, in which case it closes it at once (a refused connection).
func (p *fedProxy) relay(c net.Conn) {
	p.mu.Lock()
	if p.blocked {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.blocked {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// setBlocked cuts (closing every open connection) or restores the
// traffic through the proxy.
func (p *fedProxy) setBlocked(b bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = b
	if b {
		for c := range p.conns {
			c.Close()
		}
	}
}

// startProxiedFedServer starts a federating server named after the
// address of a proxy in front of its federation listener.
func startProxiedFedServer(t *testing.T, extra ...string) (*fedServer, *fedProxy) {
	t.Helper()
	real := freeAddr(t)
	proxy := startFedProxy(t, real)
	name := proxy.ln.Addr().String()
	dataDir := filepath.Join(t.TempDir(), "data")
	args := append([]string{
		"--server-name", name,
		"--listen-federation", real,
		"--open-registration", "--rate-limit=false",
		"--federation-allow-private", "--federation-skip-tls-verify",
	}, extra...)
	base, _, logs, _ := startServeInfo(t, dataDir, args...)
	return &fedServer{name: id.ServerName(name), base: base, dataDir: dataDir, logs: logs}, proxy
}

// partition cuts or restores the federation traffic between servers.
func partition(cut bool, proxies ...*fedProxy) {
	for _, p := range proxies {
		p.setBlocked(cut)
	}
}

// poke makes from contact to over federation (a signed GET /version), as
// any request of a server that is back does: to ends its backoff for
// from at once.
func poke(t *testing.T, from, to *fedServer) {
	t.Helper()
	p := newFedPeer(t, from)
	if st, code := p.fedGet(t, to.name, http.MethodGet, "/_matrix/federation/v1/version", nil, &struct{}{}); st != 200 {
		t.Fatalf("GET /version of %s as %s = %d %s", to.name, from.name, st, code)
	}
}

// roomPath returns the client API path of a room's endpoint.
func roomPath(roomID id.RoomID, rest string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(string(roomID)) + rest
}

// stateContent reads the content of a room's current state event through
// the client API; the status is 200 when it exists.
func stateContent(t *testing.T, base, token string, roomID id.RoomID, typ, key string) (map[string]any, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+roomPath(roomID, "/state/"+url.PathEscape(typ)+"/"+url.PathEscape(key)), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return out, resp.StatusCode
}

// waitFor polls ok until it holds, failing the test after a generous
// deadline with what.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// setUserPower gives user the power level in the room, as the room's
// admin admin.
func setUserPower(t *testing.T, base, token string, roomID id.RoomID, user id.UserID, level int) {
	t.Helper()
	pl, st := stateContent(t, base, token, roomID, "m.room.power_levels", "")
	if st != 200 {
		t.Fatalf("power levels of %s: %d", roomID, st)
	}
	users, _ := pl["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
	}
	users[string(user)] = level
	pl["users"] = users
	csCall(t, base, token, http.MethodPut, roomPath(roomID, "/state/m.room.power_levels/"), pl, &struct{}{})
}

// joinVia joins the user to a room through a server.
func joinVia(t *testing.T, base, token string, roomID id.RoomID, via id.ServerName) {
	t.Helper()
	csCall(t, base, token, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(via)), struct{}{}, &struct{}{})
}
