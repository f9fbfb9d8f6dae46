package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
)

// meshResolver answers one server's DNS queries in a test federation:
// each server's host name resolves to the loopback address of the link
// from this server to it. It has no SRV records.
type meshResolver struct {
	hosts map[string]netip.Addr
}

func (r *meshResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	a, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []net.IPAddr{{IP: a.AsSlice()}}, nil
}

func (r *meshResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// fedMesh is a federation of servers on loopback in which every ordered
// pair of servers (origin → destination) has a path of its own that a
// test can cut: server i's host name resolves, for server o only, to
// 127.1.o+1.i+1, where a proxy listens on i's port and relays to i's
// federation listener. Cutting the link o → i stops o's requests to i
// (o's transactions, its fetches, its probes), not i's requests to o.
type fedMesh struct {
	servers []*fedServer
	// links[o][d] is o's path to d.
	links     [][]*fedProxy
	resolvers []*meshResolver
}

// startFedMesh starts n federating servers named s0.mesh.test:port …; extra
// gives each its more flags (the database).
func startFedMesh(t *testing.T, n int, extra func(t *testing.T) []string) *fedMesh {
	t.Helper()
	m := &fedMesh{links: make([][]*fedProxy, n), resolvers: make([]*meshResolver, n)}
	for o := range n {
		m.links[o] = make([]*fedProxy, n)
		m.resolvers[o] = &meshResolver{hosts: map[string]netip.Addr{}}
	}
	linkAddr := func(o, d int) netip.Addr { return netip.AddrFrom4([4]byte{127, 1, byte(o + 1), byte(d + 1)}) }
	names := make([]id.ServerName, n)
	reals := make([]string, n)
	for d := range n {
		reals[d] = freeAddr(t)
		host := fmt.Sprintf("s%d.mesh.test", d)
		// One port for the server on every link's address.
		lns := listenOnAll(t, n, func(o int) netip.Addr { return linkAddr(o, d) })
		port := lns[0].Addr().(*net.TCPAddr).Port
		names[d] = id.ServerName(fmt.Sprintf("%s:%d", host, port))
		for o := range n {
			m.links[o][d] = serveFedProxy(t, lns[o], reals[d])
			m.resolvers[o].hosts[host] = linkAddr(o, d)
		}
	}
	for d := range n {
		dataDir := filepath.Join(t.TempDir(), "data")
		args := append([]string{
			"--server-name", string(names[d]),
			"--listen-federation", reals[d],
			"--open-registration", "--rate-limit=false",
			"--federation-allow-private", "--federation-skip-tls-verify",
		}, extra(t)...)
		base, _, logs, _ := startServeHooks(t, dataDir, serveHooks{resolver: m.resolvers[d]}, args...)
		m.servers = append(m.servers, &fedServer{name: names[d], base: base, dataDir: dataDir, logs: logs})
	}
	return m
}

// listenOnAll listens on the same free port on n addresses.
func listenOnAll(t *testing.T, n int, addr func(i int) netip.Addr) []net.Listener {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", netip.AddrPortFrom(addr(0), 0).String())
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(first.Addr().(*net.TCPAddr).Port)
		lns := []net.Listener{first}
		for i := 1; i < n; i++ {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(addr(i), port).String())
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == n {
			return lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatal("no port free on every link address")
	return nil
}

// cut cuts (or restores) the links from each server of from to each
// server of to.
func (m *fedMesh) cut(blocked bool, from, to []int) {
	for _, o := range from {
		for _, d := range to {
			m.links[o][d].setBlocked(blocked)
		}
	}
}

// partition cuts every link between servers of different sides, in both
// directions.
func (m *fedMesh) partition(sides ...[]int) {
	for i, a := range sides {
		for j, b := range sides {
			if i != j {
				m.cut(true, a, b)
			}
		}
	}
}

// heal restores every link.
func (m *fedMesh) heal() {
	for o := range m.links {
		for d := range m.links[o] {
			m.links[o][d].setBlocked(false)
		}
	}
}

// poke makes server o contact server d over its link (a signed GET
// /version), as a server that is back does: d ends its backoff for o.
func (m *fedMesh) poke(t *testing.T, o, d int) {
	t.Helper()
	from := m.servers[o]
	raw, err := os.ReadFile(filepath.Join(from.dataDir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.ParseKeyFile(raw, from.name)
	if err != nil || len(keys) != 1 {
		t.Fatalf("signing key of %s: %v", from.name, err)
	}
	c := federation.New(federation.Config{ServerName: from.name, Key: keys[0], AllowPrivate: true, SkipTLSVerify: true, Resolver: m.resolvers[o]})
	defer c.Close()
	if _, err := c.Do(context.Background(), federation.Request{Destination: m.servers[d].name, Method: http.MethodGet, Path: "/_matrix/federation/v1/version"}); err != nil {
		t.Fatalf("GET /version of %s as %s: %v", m.servers[d].name, from.name, err)
	}
}
