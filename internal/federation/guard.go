package federation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// GuardConfig configures NewGuardedHTTPClient.
type GuardConfig struct {
	// Resolver answers DNS queries; net.DefaultResolver when nil.
	Resolver Resolver
	// AllowPrivate allows loopback, private and link-local addresses
	// (tests on one machine only).
	AllowPrivate bool
	// Deny lists more address ranges never to connect to, whatever
	// AllowPrivate says.
	Deny []netip.Prefix
	// DenyHost, when set, is asked about the host of the first URL and of
	// every redirect; an error refuses it.
	DenyHost func(host string) error
	// Timeout bounds each request, its body included; DefaultTimeout
	// when 0.
	Timeout time.Duration
	// DialTimeout bounds each connection attempt; DefaultDialTimeout
	// when 0.
	DialTimeout time.Duration
	// MaxRedirects is how many redirects are followed; 0 means none.
	MaxRedirects int
	// SkipTLSVerify accepts any certificate (test setups only).
	SkipTLSVerify bool
}

// ErrDeniedHost means a URL's host is on a deny list.
var ErrDeniedHost = errors.New("host denied")

// NewGuardedHTTPClient returns an HTTP client for arbitrary http(s) URLs
// of other parties (media redirects, URL previews) with federation's
// protection against server-side request forgery: every connection,
// redirects included, is dialed through a dialer whose Control refuses
// non-public addresses (unless AllowPrivate) and the Deny ranges, after
// DNS resolution, on the address actually dialed.
func NewGuardedHTTPClient(cfg GuardConfig) *http.Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	var res Resolver = cfg.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	d := newDialer(res, cfg.AllowPrivate, cfg.DialTimeout)
	d.deny = cfg.Deny
	tr := &http.Transport{
		DialContext:           d.dial,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.SkipTLSVerify}, // the operator's choice
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport: guardedTransport{tr, cfg.DenyHost},
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("more than %d redirects", cfg.MaxRedirects)
			}
			return nil
		},
	}
}

// guardedTransport checks the scheme and host of every request, redirects
// included, before it is sent.
type guardedTransport struct {
	tr       *http.Transport
	denyHost func(string) error
}

func (g guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("fetch %s: unsupported scheme", req.URL.Redacted())
	}
	if g.denyHost != nil {
		if err := g.denyHost(req.URL.Hostname()); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", req.URL.Redacted(), err)
		}
	}
	return g.tr.RoundTrip(req)
}

// CloseIdleConnections closes the transport's idle connections.
func (g guardedTransport) CloseIdleConnections() { g.tr.CloseIdleConnections() }

// guardedGet runs a GET of rawURL with the client and context.
func guardedGet(ctx context.Context, c *http.Client, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	return c.Do(req)
}
