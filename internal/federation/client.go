package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// Defaults of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	wellKnownTimeout        = 10 * time.Second
)

// destinationSuffix ends the synthetic host name under which a request's
// URL names its destination server (hex-encoded, so any server name,
// ports and IPv6 literals included, is one unambiguous host): the
// transport pools connections per destination server, and its dialer
// turns the name back into a server name to resolve.
const destinationSuffix = ".hafen-destination.invalid"

// Config holds a Client's settings.
type Config struct {
	// ServerName and Key sign every request (the origin).
	ServerName id.ServerName
	Key        signing.Key
	// Resolver answers DNS queries; net.DefaultResolver when nil.
	Resolver Resolver
	// AllowPrivate allows connections to loopback, private and link-local
	// addresses (test federations on one machine).
	AllowPrivate bool
	// SkipTLSVerify accepts any certificate (test federations with
	// self-signed certificates). Never on a public server.
	SkipTLSVerify bool
	// RootCAs are the trusted certificate authorities; the system's when
	// nil.
	RootCAs *x509.CertPool
	// Timeout bounds every call, unless the caller's context is shorter;
	// DefaultTimeout when 0.
	Timeout time.Duration
	// DialTimeout bounds each connection attempt; DefaultDialTimeout when 0.
	DialTimeout time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Client makes requests to other servers. It is safe for concurrent use;
// Close releases its idle connections.
type Client struct {
	origin    id.ServerName
	key       signing.Key
	timeout   time.Duration
	dialer    *dialer
	resolver  *resolver
	tls       *tls.Config
	transport *http.Transport
	http      *http.Client
	wellKnown *http.Transport
	// urls fetches the URLs other servers redirect media downloads to.
	urls *http.Client
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{
		origin:  cfg.ServerName,
		key:     cfg.Key,
		timeout: cfg.Timeout,
		dialer:  newDialer(cfg.Resolver, cfg.AllowPrivate, cfg.DialTimeout),
		tls: &tls.Config{
			RootCAs:            cfg.RootCAs,
			InsecureSkipVerify: cfg.SkipTLSVerify, // the operator's choice, warned about at start
			MinVersion:         tls.VersionTLS12,
		},
	}
	c.wellKnown = &http.Transport{
		DialContext:         c.dialer.dial,
		TLSClientConfig:     c.tls.Clone(),
		TLSHandshakeTimeout: cfg.DialTimeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	c.resolver = &resolver{
		dns: cfg.Resolver,
		wellKnown: &wellKnownCache{
			client:  &http.Client{Transport: c.wellKnown, Timeout: wellKnownTimeout, CheckRedirect: checkRedirect},
			now:     cfg.Now,
			port:    443,
			entries: map[string]wellKnownResult{},
		},
		now:     cfg.Now,
		targets: map[id.ServerName]cachedTarget{},
	}
	c.transport = &http.Transport{
		DialTLSContext:      c.dialTLS,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	c.http = &http.Client{Transport: c.transport, Timeout: cfg.Timeout, CheckRedirect: noRedirects}
	c.urls = NewGuardedHTTPClient(GuardConfig{Resolver: cfg.Resolver, AllowPrivate: cfg.AllowPrivate,
		Timeout: cfg.Timeout, DialTimeout: cfg.DialTimeout, MaxRedirects: 5, SkipTLSVerify: cfg.SkipTLSVerify})
	return c
}

// GetURL fetches an http(s) URL another server pointed to (a media
// download's Location), with the federation's rules on private addresses
// and the client's timeout, following at most 5 redirects. Only 2xx
// answers are returned (the caller closes the body); others are an
// *HTTPError.
func (c *Client) GetURL(ctx context.Context, rawURL string) (*http.Response, error) {
	resp, err := guardedGet(ctx, c.urls, rawURL)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("fetch %s: %w", resp.Request.URL.Redacted(), &HTTPError{Status: resp.StatusCode})
	}
	return resp, nil
}

// noRedirects makes the federation client return 3xx answers as they are:
// federation endpoints do not redirect.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Close closes idle connections.
func (c *Client) Close() {
	c.urls.CloseIdleConnections()
	c.transport.CloseIdleConnections()
	c.wellKnown.CloseIdleConnections()
}

// Resolve returns where requests for server go (see the package comment).
func (c *Client) Resolve(ctx context.Context, server id.ServerName) (Target, error) {
	return c.resolver.Resolve(ctx, server)
}

// Request is one outbound request.
type Request struct {
	// Destination is the server to send it to.
	Destination id.ServerName
	// Method is the HTTP method.
	Method string
	// Path is the escaped path starting with /_matrix/, and the query.
	Path string
	// Body is the JSON body; nil for none.
	Body []byte
	// Unsigned sends no Authorization header (key requests).
	Unsigned bool
	// MaxResponseBytes caps the response body; DefaultMaxResponseBytes
	// when 0.
	MaxResponseBytes int64
}

// Do sends req and returns the body of a 2xx answer; any other answer is
// an *HTTPError.
func (c *Client) Do(ctx context.Context, req Request) ([]byte, error) {
	resp, err := c.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", req.Method, req.Destination, err)
	}
	return data, nil
}

// Stream sends req and returns a 2xx answer with its body still to be
// read (and closed by the caller); any other answer is an *HTTPError. The
// body is cut off with an error wrapping ErrResponseTooLarge after
// MaxResponseBytes, and reading it is bounded by the client's timeout.
func (c *Client) Stream(ctx context.Context, req Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	resp, err := c.send(ctx, req)
	if err != nil {
		cancel()
		return nil, err
	}
	limit := req.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		he := &HTTPError{Status: resp.StatusCode}
		var e struct {
			Errcode string `json:"errcode"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil {
			he.Errcode, he.Message = e.Errcode, e.Error
		}
		return nil, fmt.Errorf("%s %s%s: %w", req.Method, req.Destination, req.Path, he)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, cancel: cancel,
		what: fmt.Sprintf("%s %s", req.Method, req.Destination)}
	return resp, nil
}

// send sends req and returns the answer, whatever its status.
func (c *Client) send(ctx context.Context, req Request) (*http.Response, error) {
	target, err := c.resolver.Resolve(ctx, req.Destination)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.Destination, err)
	}
	u, err := url.Parse("https://" + hex.EncodeToString([]byte(req.Destination)) + destinationSuffix + req.Path)
	if err != nil || !strings.HasPrefix(req.Path, "/") {
		return nil, fmt.Errorf("%s %s: bad path %q", req.Method, req.Destination, req.Path)
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.Destination, err)
	}
	hr.Host = target.Host
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if !req.Unsigned {
		x, err := signing.SignRequest(signing.Request{
			Method: req.Method, URI: hr.URL.RequestURI(), Origin: c.origin, Destination: req.Destination, Content: req.Body,
		}, c.key)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.Destination, err)
		}
		hr.Header.Set("Authorization", x.Header())
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.Destination, err)
	}
	return resp, nil
}

// limitedBody is a response body that fails after a number of bytes and
// releases the request's context when closed.
type limitedBody struct {
	rc     io.ReadCloser
	left   int64
	cancel context.CancelFunc
	what   string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("%s: %w", b.what, ErrResponseTooLarge)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - 1, fmt.Errorf("%s: %w (over the limit)", b.what, ErrResponseTooLarge)
	}
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// DoJSON sends req and decodes the JSON answer into out.
func (c *Client) DoJSON(ctx context.Context, req Request, out any) error {
	data, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s%s: decode response: %w", req.Method, req.Destination, req.Path, err)
	}
	return nil
}

// dialTLS connects the transport to the destination its synthetic host
// names: it resolves the server name and tries each address with the
// certificate name the resolution chose.
func (c *Client) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !strings.HasSuffix(host, destinationSuffix) {
		return nil, fmt.Errorf("dial %s: not a federation destination", addr)
	}
	name, err := hex.DecodeString(strings.TrimSuffix(host, destinationSuffix))
	if err != nil {
		return nil, fmt.Errorf("dial %s: not a federation destination", addr)
	}
	server := id.ServerName(name)
	target, err := c.resolver.Resolve(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", server, err)
	}
	var errs []error
	for _, a := range target.Addrs {
		conn, err := c.dialer.dial(ctx, network, a)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		cfg := c.tls.Clone()
		// Go sends no SNI when ServerName is an IP address and then checks
		// the certificate's IP addresses, as the spec asks.
		cfg.ServerName = target.TLSName
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			errs = append(errs, fmt.Errorf("tls handshake with %s (%s): %w", a, target.TLSName, err))
			continue
		}
		return tc, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("dial %s: %w", server, ErrNoAddress)
	}
	return nil, fmt.Errorf("dial %s: %w", server, errors.Join(errs...))
}
