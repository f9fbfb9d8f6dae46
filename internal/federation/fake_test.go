package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// fakeDNS answers SRV and address queries from maps, and counts them.
type fakeDNS struct {
	mu    sync.Mutex
	srv   map[string][]*net.SRV // "_matrix-fed._tcp.host." style keys: service + "/" + name
	addrs map[string][]string   // host → IP addresses; "*" answers any host
	calls []string
}

func (f *fakeDNS) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "srv "+service+" "+name)
	recs, ok := f.srv[service+"/"+name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return "_" + service + "._" + proto + "." + name + ".", recs, nil
}

func (f *fakeDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "ip "+host)
	ips, ok := f.addrs[host]
	if !ok {
		ips, ok = f.addrs["*"]
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tlsServer is an httptest TLS server (certificate for example.com,
// 127.0.0.1 and ::1) that records the SNI of each handshake and counts
// new connections.
type tlsServer struct {
	*httptest.Server
	port int

	mu    sync.Mutex
	snis  []string
	conns int
}

func newTLSServer(t *testing.T, h http.Handler) *tlsServer {
	t.Helper()
	s := &tlsServer{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Server.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.Server.StartTLS()
	base := s.Server.TLS.Clone()
	s.Server.TLS.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		s.mu.Lock()
		s.snis = append(s.snis, hello.ServerName)
		s.mu.Unlock()
		return base, nil
	}
	t.Cleanup(s.Close)
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	s.port, _ = strconv.Atoi(p)
	return s
}

func (s *tlsServer) SNIs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.snis...)
}

func (s *tlsServer) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// roots returns a pool trusting the server's certificate.
func (s *tlsServer) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

func testKey(t *testing.T, server string) signing.Key {
	t.Helper()
	k, err := signing.KeyFromSeed(idServer(server), "ed25519:test", make([]byte, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestClient returns a client over dns whose well-known requests go to
// wellKnownPort.
func newTestClient(t *testing.T, cfg Config, wellKnownPort int) *Client {
	t.Helper()
	if cfg.ServerName == "" {
		cfg.ServerName = "origin.test"
		cfg.Key = testKey(t, "origin.test")
	}
	c := New(cfg)
	c.resolver.wellKnown.port = wellKnownPort
	t.Cleanup(c.Close)
	return c
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return hostport
}

func idServer(s string) id.ServerName { return id.ServerName(s) }
