package federation

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// recordingHandler answers 200 {} and records what it saw.
type recordingHandler struct {
	mu    sync.Mutex
	hosts []string
	auth  []string
	uris  []string
	body  [][]byte
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.hosts = append(h.hosts, r.Host)
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.uris = append(h.uris, r.RequestURI)
	h.body = append(h.body, b)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{}`)
}

// TestTLSNameAndSNI checks that the certificate is checked against the
// name the resolution chose, SNI is sent for host names and not for IP
// literals, and the Host header is the server name.
func TestTLSNameAndSNI(t *testing.T) {
	h := &recordingHandler{}
	ts := newTLSServer(t, h)
	port := strconv.Itoa(ts.port)
	dns := &fakeDNS{addrs: map[string][]string{"*": {"127.0.0.1"}}}
	c := newTestClient(t, Config{Resolver: dns, AllowPrivate: true, RootCAs: ts.roots()}, ts.port)
	ctx := context.Background()
	cases := []struct {
		server   id.ServerName
		wantSNI  string
		wantHost string
		wantErr  bool
	}{
		// The test certificate is valid for example.com and 127.0.0.1.
		{id.ServerName("example.com:" + port), "example.com", "example.com:" + port, false},
		{id.ServerName("127.0.0.1:" + port), "", "127.0.0.1:" + port, false},
		{id.ServerName("other.test:" + port), "other.test", "", true},
	}
	for _, tc := range cases {
		before := len(ts.SNIs())
		_, err := c.Do(ctx, Request{Destination: tc.server, Method: "GET", Path: "/_matrix/federation/v1/version"})
		if (err != nil) != tc.wantErr {
			t.Errorf("Do(%s) = %v, want error %v", tc.server, err, tc.wantErr)
			continue
		}
		snis := ts.SNIs()
		if len(snis) != before+1 || snis[before] != tc.wantSNI {
			t.Errorf("Do(%s): SNIs %q, want one more: %q", tc.server, snis[before:], tc.wantSNI)
		}
		if !tc.wantErr {
			h.mu.Lock()
			host := h.hosts[len(h.hosts)-1]
			h.mu.Unlock()
			if host != tc.wantHost {
				t.Errorf("Do(%s): Host %q, want %q", tc.server, host, tc.wantHost)
			}
		}
	}
	// With verification off, a certificate for another name is accepted.
	insecure := newTestClient(t, Config{Resolver: dns, AllowPrivate: true, SkipTLSVerify: true}, ts.port)
	if _, err := insecure.Do(ctx, Request{Destination: id.ServerName("other.test:" + port), Method: "GET", Path: "/x"}); err != nil {
		t.Errorf("Do with SkipTLSVerify = %v", err)
	}
}

// TestConnectionReuse checks that one connection serves several requests
// to a destination.
func TestConnectionReuse(t *testing.T) {
	ts := newTLSServer(t, &recordingHandler{})
	c := newTestClient(t, Config{Resolver: &fakeDNS{}, AllowPrivate: true, SkipTLSVerify: true}, ts.port)
	dest := id.ServerName("127.0.0.1:" + strconv.Itoa(ts.port))
	for range 5 {
		if _, err := c.Do(context.Background(), Request{Destination: dest, Method: "GET", Path: "/_matrix/federation/v1/version"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.Conns(); n != 1 {
		t.Errorf("5 requests opened %d connections, want 1", n)
	}
}

// TestRequestsAreSigned checks the Authorization header of outbound
// requests against the request that arrived.
func TestRequestsAreSigned(t *testing.T) {
	h := &recordingHandler{}
	ts := newTLSServer(t, h)
	key := testKey(t, "origin.test")
	c := newTestClient(t, Config{ServerName: "origin.test", Key: key, Resolver: &fakeDNS{}, AllowPrivate: true, SkipTLSVerify: true}, ts.port)
	dest := id.ServerName("127.0.0.1:" + strconv.Itoa(ts.port))
	body := []byte(`{"pdus":[],"edus":[]}`)
	if _, err := c.Do(context.Background(), Request{Destination: dest, Method: "PUT", Path: "/_matrix/federation/v1/send/t%2F1?a=b", Body: body}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), Request{Destination: dest, Method: "GET", Path: "/_matrix/key/v2/server", Unsigned: true}); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	x, err := signing.ParseXMatrix(h.auth[0])
	if err != nil {
		t.Fatalf("ParseXMatrix(%q) = %v", h.auth[0], err)
	}
	if x.Origin != "origin.test" || x.Destination != dest || x.KeyID != key.KeyID {
		t.Errorf("X-Matrix = %+v", x)
	}
	req := signing.Request{Method: "PUT", URI: h.uris[0], Origin: "origin.test", Destination: dest, Content: h.body[0]}
	if h.uris[0] != "/_matrix/federation/v1/send/t%2F1?a=b" {
		t.Errorf("request URI = %q", h.uris[0])
	}
	if err := signing.VerifyRequest(req, x, key.Public()); err != nil {
		t.Errorf("VerifyRequest = %v", err)
	}
	if h.auth[1] != "" {
		t.Errorf("unsigned request carried Authorization %q", h.auth[1])
	}
}

// TestRefusesPrivateAddresses checks the SSRF guard: with AllowPrivate
// off, no connection reaches loopback, whether the server name is an IP
// literal, a name whose DNS answer is loopback, or a name whose
// well-known lookup would go to loopback.
func TestRefusesPrivateAddresses(t *testing.T) {
	h := &recordingHandler{}
	ts := newTLSServer(t, h)
	port := strconv.Itoa(ts.port)
	dns := &fakeDNS{addrs: map[string][]string{"*": {"127.0.0.1"}, "mapped.test": {"::ffff:127.0.0.1"}}}
	c := newTestClient(t, Config{Resolver: dns, SkipTLSVerify: true}, ts.port)
	for _, dest := range []id.ServerName{
		id.ServerName("127.0.0.1:" + port),
		id.ServerName("[::1]:" + port),
		id.ServerName("loopback.test:" + port),
		id.ServerName("mapped.test:" + port),
		"wellknown.test", // well-known and the 8448 fallback both resolve to loopback
	} {
		_, err := c.Do(context.Background(), Request{Destination: dest, Method: "GET", Path: "/_matrix/federation/v1/version"})
		if !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("Do(%s) = %v, want ErrPrivateAddress", dest, err)
		}
	}
	if n := ts.Conns(); n != 0 {
		t.Errorf("the loopback server saw %d connections, want 0", n)
	}
}

func TestIsPublic(t *testing.T) {
	cases := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"2a00:1450:4001:82b::200e", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"100.64.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::7f00:1", false},
		{"2002:7f00:1::", false},
	}
	for _, tc := range cases {
		if got := IsPublic(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("IsPublic(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestDialControl checks the check made on the address actually dialed,
// which also covers addresses reached through redirects and DNS answers.
func TestDialControl(t *testing.T) {
	strict := newDialer(&fakeDNS{}, false, time.Second)
	open := newDialer(&fakeDNS{}, true, time.Second)
	for _, addr := range []string{"10.0.0.1:443", "[fe80::1]:8448", "169.254.169.254:80", "127.0.0.1:8448", "[::ffff:192.168.0.1]:443"} {
		if err := strict.control("tcp", addr, nil); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("control(%s) = %v, want ErrPrivateAddress", addr, err)
		}
		if err := open.control("tcp", addr, nil); err != nil {
			t.Errorf("control(%s) with AllowPrivate = %v", addr, err)
		}
	}
	if err := strict.control("tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("control(8.8.8.8:443) = %v", err)
	}
}
