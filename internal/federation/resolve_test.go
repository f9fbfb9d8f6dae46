package federation

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// wellKnownHandler serves /.well-known/matrix/server per Host and counts
// requests per host.
type wellKnownHandler struct {
	mu      sync.Mutex
	answers map[string]func(w http.ResponseWriter)
	hits    map[string]int
}

func (h *wellKnownHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	h.mu.Lock()
	h.hits[host]++
	answer, ok := h.answers[host]
	h.mu.Unlock()
	if !ok || r.URL.Path != "/.well-known/matrix/server" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	answer(w)
}

func (h *wellKnownHandler) Hits(host string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[host]
}

func delegate(to string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"m.server":%q}`, to)
	}
}

func srv(target string, port uint16) []*net.SRV {
	return []*net.SRV{{Target: target, Port: port, Priority: 10, Weight: 5}}
}

// TestResolveOrder follows each step of "Resolving server names" with a
// fake DNS and a real TLS well-known server on loopback.
func TestResolveOrder(t *testing.T) {
	wk := &wellKnownHandler{hits: map[string]int{}, answers: map[string]func(http.ResponseWriter){
		"wk-ip.test":     delegate("10.1.2.3:9000"),
		"wk-ip6.test":    delegate("[2001:db8::1]"),
		"wk-port.test":   delegate("delegate.test:9001"),
		"wk-srv.test":    delegate("delegate-srv.test"),
		"wk-oldsrv.test": delegate("delegate-old.test"),
		"wk-nosrv.test":  delegate("delegate-none.test"),
		"badjson.test":   func(w http.ResponseWriter) { fmt.Fprint(w, `{"m.server":`) },
		"nomserver.test": func(w http.ResponseWriter) { fmt.Fprint(w, `{"m.homeserver":"x"}`) },
		"badname.test":   delegate("bad name"),
	}}
	ts := newTLSServer(t, wk)
	redirect := func(to string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Location", fmt.Sprintf("https://%s:%d/.well-known/matrix/server", to, ts.port))
			w.WriteHeader(http.StatusFound)
		}
	}
	wk.answers["redirect.test"] = redirect("wk-port.test")
	wk.answers["loop.test"] = redirect("loop2.test")
	wk.answers["loop2.test"] = redirect("loop.test")
	dns := &fakeDNS{
		addrs: map[string][]string{"*": {"127.0.0.1"}},
		srv: map[string][]*net.SRV{
			"matrix-fed/delegate-srv.test":  srv("fed.delegate.test.", 9002),
			"matrix/delegate-old.test":      srv("old.delegate.test.", 9003),
			"matrix-fed/nowk-srv.test":      srv("fed.nowk.test.", 9004),
			"matrix/nowk-srv.test":          srv("old.nowk.test.", 9005),
			"matrix/nowk-oldsrv.test":       srv("old.nowk2.test.", 9006),
			"matrix-fed/wk-srv.test":        srv("ignored.test.", 1),
			"matrix-fed/srv-dot.test":       srv(".", 0),
			"matrix-fed/example.org":        srv("ignored.test.", 2),
			"matrix-fed/wk-port.test":       srv("ignored.test.", 3),
			"matrix-fed/delegate-none.test": nil,
		},
	}
	c := newTestClient(t, Config{Resolver: dns, AllowPrivate: true, SkipTLSVerify: true}, ts.port)
	cases := []struct {
		name   string
		server id.ServerName
		want   Target
	}{
		{"1: IPv4 literal, default port", "127.0.0.1", Target{[]string{"127.0.0.1:8448"}, "127.0.0.1", "127.0.0.1"}},
		{"1: IPv6 literal with port", "[::1]:9000", Target{[]string{"[::1]:9000"}, "[::1]:9000", "::1"}},
		{"2: host name with explicit port: no well-known, no SRV", "example.org:1234", Target{[]string{"example.org:1234"}, "example.org:1234", "example.org"}},
		{"3.1: well-known delegates to an IP literal with port", "wk-ip.test", Target{[]string{"10.1.2.3:9000"}, "10.1.2.3:9000", "10.1.2.3"}},
		{"3.1: well-known delegates to an IPv6 literal without port", "wk-ip6.test", Target{[]string{"[2001:db8::1]:8448"}, "[2001:db8::1]", "2001:db8::1"}},
		{"3.2: well-known delegates to host and port; SRV of the server name is not used", "wk-port.test", Target{[]string{"delegate.test:9001"}, "delegate.test:9001", "delegate.test"}},
		{"3.3: _matrix-fed._tcp of the delegated host", "wk-srv.test", Target{[]string{"fed.delegate.test:9002"}, "delegate-srv.test", "delegate-srv.test"}},
		{"3.4: deprecated _matrix._tcp of the delegated host", "wk-oldsrv.test", Target{[]string{"old.delegate.test:9003"}, "delegate-old.test", "delegate-old.test"}},
		{"3.5: delegated host without SRV: port 8448", "wk-nosrv.test", Target{[]string{"delegate-none.test:8448"}, "delegate-none.test", "delegate-none.test"}},
		{"4: no well-known: _matrix-fed._tcp preferred over _matrix._tcp", "nowk-srv.test", Target{[]string{"fed.nowk.test:9004"}, "nowk-srv.test", "nowk-srv.test"}},
		{"5: no well-known: deprecated _matrix._tcp", "nowk-oldsrv.test", Target{[]string{"old.nowk2.test:9006"}, "nowk-oldsrv.test", "nowk-oldsrv.test"}},
		{"6: no well-known, no SRV: port 8448", "nowk.test", Target{[]string{"nowk.test:8448"}, "nowk.test", "nowk.test"}},
		{"6: SRV target '.' means no service", "srv-dot.test", Target{[]string{"srv-dot.test:8448"}, "srv-dot.test", "srv-dot.test"}},
		{"3: invalid JSON skips to step 4", "badjson.test", Target{[]string{"badjson.test:8448"}, "badjson.test", "badjson.test"}},
		{"3: no m.server skips to step 4", "nomserver.test", Target{[]string{"nomserver.test:8448"}, "nomserver.test", "nomserver.test"}},
		{"3: invalid m.server skips to step 4", "badname.test", Target{[]string{"badname.test:8448"}, "badname.test", "badname.test"}},
		{"3: redirects are followed", "redirect.test", Target{[]string{"delegate.test:9001"}, "delegate.test:9001", "delegate.test"}},
		{"3: a redirect loop is an error: step 4", "loop.test", Target{[]string{"loop.test:8448"}, "loop.test", "loop.test"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Resolve(context.Background(), tc.server)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Resolve(%s) = %+v, %v; want %+v", tc.server, got, err, tc.want)
			}
		})
	}
	if n := wk.Hits("example.org"); n != 0 {
		t.Errorf("step 2 fetched the well-known of example.org %d times, want 0", n)
	}
	for _, call := range dns.calls {
		if strings.Contains(call, "example.org") || strings.HasPrefix(call, "srv") && strings.HasSuffix(call, "127.0.0.1") {
			t.Errorf("DNS query %q for a server name that needs none", call)
		}
	}
	if _, err := c.Resolve(context.Background(), "bad name"); err == nil {
		t.Errorf("Resolve(invalid server name) succeeded")
	}
}

func TestWellKnownCaching(t *testing.T) {
	var mu sync.Mutex
	status, cacheControl := http.StatusOK, "max-age=3600"
	wk := &wellKnownHandler{hits: map[string]int{}, answers: map[string]func(http.ResponseWriter){
		"cached.test": func(w http.ResponseWriter) {
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Cache-Control", cacheControl)
			w.WriteHeader(status)
			fmt.Fprint(w, `{"m.server":"delegate.test:443"}`)
		},
	}}
	ts := newTLSServer(t, wk)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	dns := &fakeDNS{addrs: map[string][]string{"*": {"127.0.0.1"}}}
	c := newTestClient(t, Config{Resolver: dns, AllowPrivate: true, SkipTLSVerify: true, Now: clock.Now}, ts.port)
	w := c.resolver.wellKnown
	ctx := context.Background()
	lookup := func() error { _, err := w.lookup(ctx, "cached.test"); return err }
	set := func(st int, cc string) { mu.Lock(); status, cacheControl = st, cc; mu.Unlock() }

	steps := []struct {
		name     string
		advance  time.Duration
		status   int
		cc       string
		wantHits int
		wantErr  bool
	}{
		{"first lookup fetches", 0, 200, "max-age=3600", 1, false},
		{"within max-age: cached", 59 * time.Minute, 200, "max-age=3600", 1, false},
		{"after max-age: fetched again, now failing", 2 * time.Minute, 500, "", 2, true},
		{"failure cached for 2 minutes", 119 * time.Second, 500, "", 2, true},
		{"after 2 minutes: fetched again, fails again", 2 * time.Second, 500, "", 3, true},
		{"second failure cached for 4 minutes (backoff)", 3 * time.Minute, 500, "", 3, true},
		{"after 4 minutes: fetched again, succeeds with tiny max-age", 61 * time.Second, 200, "max-age=10", 4, false},
		{"max-age below the minimum is raised to 5 minutes", 4 * time.Minute, 200, "max-age=10", 4, false},
		{"after 5 minutes: fetched again", 61 * time.Second, 200, "no-store", 5, false},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		set(s.status, s.cc)
		err := lookup()
		if got := wk.Hits("cached.test"); got != s.wantHits || (err != nil) != s.wantErr {
			t.Fatalf("%s: hits = %d, err = %v; want %d hits, error %v", s.name, got, err, s.wantHits, s.wantErr)
		}
	}
}

func TestCacheDuration(t *testing.T) {
	cases := []struct {
		cc   []string
		want time.Duration
	}{
		{nil, DefaultWellKnownCache},
		{[]string{"max-age=7200"}, 2 * time.Hour},
		{[]string{"public, max-age=600"}, 10 * time.Minute},
		{[]string{"max-age=1"}, MinWellKnownCache},
		{[]string{"max-age=999999999"}, MaxWellKnownCache},
		{[]string{"no-cache"}, MinWellKnownCache},
		{[]string{"max-age=x"}, DefaultWellKnownCache},
	}
	for _, tc := range cases {
		h := http.Header{}
		for _, v := range tc.cc {
			h.Add("Cache-Control", v)
		}
		if got := cacheDuration(h); got != tc.want {
			t.Errorf("cacheDuration(%q) = %v, want %v", tc.cc, got, tc.want)
		}
	}
}
