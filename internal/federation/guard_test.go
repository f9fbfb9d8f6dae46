package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestGuardedClientRefusesPrivateTargets: URLs on loopback are refused
// after resolution, also when reached through a redirect from an allowed
// host name check, unless private targets are allowed; the deny list
// applies even then.
func TestGuardedClientRefusesPrivateTargets(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secret") }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer redirector.Close()
	ctx := context.Background()

	strict := NewGuardedHTTPClient(GuardConfig{MaxRedirects: 3})
	for _, u := range []string{target.URL, redirector.URL} {
		if _, err := guardedGet(ctx, strict, u); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("GET %s with private targets refused: err = %v, want ErrPrivateAddress", u, err)
		}
	}
	// A host name that resolves to loopback is refused too.
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	named := NewGuardedHTTPClient(GuardConfig{Resolver: &fakeDNS{addrs: map[string][]string{"inside.example": {"127.0.0.1"}}}})
	if _, err := guardedGet(ctx, named, "http://inside.example:"+port); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("GET of a name resolving to loopback: err = %v, want ErrPrivateAddress", err)
	}

	open := NewGuardedHTTPClient(GuardConfig{AllowPrivate: true, MaxRedirects: 3})
	resp, err := guardedGet(ctx, open, redirector.URL)
	if err != nil {
		t.Fatalf("GET with private targets allowed: %v", err)
	}
	resp.Body.Close()

	denied := NewGuardedHTTPClient(GuardConfig{AllowPrivate: true, MaxRedirects: 3, Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if _, err := guardedGet(ctx, denied, redirector.URL); !errors.Is(err, ErrDeniedAddress) {
		t.Errorf("GET of a denied range: err = %v, want ErrDeniedAddress", err)
	}
	hostDenied := NewGuardedHTTPClient(GuardConfig{AllowPrivate: true, DenyHost: func(h string) error { return ErrDeniedHost }})
	if _, err := guardedGet(ctx, hostDenied, target.URL); !errors.Is(err, ErrDeniedHost) {
		t.Errorf("GET of a denied host: err = %v, want ErrDeniedHost", err)
	}
}
