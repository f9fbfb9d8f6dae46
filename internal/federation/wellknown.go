package federation

// Spec: Server-Server API § Resolving server names, step 3
// https://spec.matrix.org/v1.19/server-server-api/#resolving-server-names
// and data/api/server-server/wellknown.yaml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Caching of /.well-known/matrix/server answers, as the spec recommends:
// the response's Cache-Control max-age within [MinWellKnownCache,
// MaxWellKnownCache], DefaultWellKnownCache without one; failures cached
// for WellKnownErrorCache doubled per consecutive failure, at most
// MaxWellKnownErrorCache.
const (
	DefaultWellKnownCache  = 24 * time.Hour
	MinWellKnownCache      = 5 * time.Minute
	MaxWellKnownCache      = 48 * time.Hour
	WellKnownErrorCache    = 2 * time.Minute
	MaxWellKnownErrorCache = time.Hour
)

const (
	// maxWellKnownBytes caps a /.well-known body.
	maxWellKnownBytes = 64 << 10
	// maxWellKnownRedirects bounds the redirects followed (and so loops).
	maxWellKnownRedirects = 10
	// maxWellKnownEntries bounds the cache; expired entries are dropped
	// first, then the cache is cleared.
	maxWellKnownEntries = 10000
)

// wellKnownResult is a cached answer: the delegated server name, or a
// failure (delegated empty).
type wellKnownResult struct {
	delegated id.ServerName
	err       error
	expires   time.Time
	failures  int
}

// wellKnownCache fetches and caches /.well-known/matrix/server. Its mutex
// is a leaf held only to read or update the map.
type wellKnownCache struct {
	client *http.Client
	now    func() time.Time
	// port is the port of the well-known URL: 443 outside tests.
	port int

	mu      sync.Mutex
	entries map[string]wellKnownResult
}

// lookup returns the m.server delegation of hostname, from the cache or by
// fetching it. A failed or invalid answer returns an error (step 4 of the
// resolution then applies).
func (w *wellKnownCache) lookup(ctx context.Context, hostname string) (id.ServerName, error) {
	now := w.now()
	w.mu.Lock()
	prev, ok := w.entries[hostname]
	w.mu.Unlock()
	if ok && now.Before(prev.expires) {
		return prev.delegated, prev.err
	}
	delegated, ttl, err := w.fetch(ctx, hostname)
	res := wellKnownResult{delegated: delegated, err: err, expires: now.Add(ttl)}
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the server.
			return "", err
		}
		res.failures = 1
		if ok && prev.err != nil {
			res.failures = prev.failures + 1
		}
		backoff := WellKnownErrorCache
		for i := 1; i < res.failures && backoff < MaxWellKnownErrorCache; i++ {
			backoff *= 2
		}
		res.expires = now.Add(min(backoff, MaxWellKnownErrorCache))
	}
	w.mu.Lock()
	if len(w.entries) >= maxWellKnownEntries {
		for k, e := range w.entries {
			if !now.Before(e.expires) {
				delete(w.entries, k)
			}
		}
		if len(w.entries) >= maxWellKnownEntries {
			clear(w.entries)
		}
	}
	w.entries[hostname] = res
	w.mu.Unlock()
	return delegated, err
}

// fetch requests https://hostname/.well-known/matrix/server and returns the
// delegation and how long to cache it.
func (w *wellKnownCache) fetch(ctx context.Context, hostname string) (id.ServerName, time.Duration, error) {
	host := hostname
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if w.port != 443 {
		host += ":" + strconv.Itoa(w.port)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/matrix/server", nil)
	if err != nil {
		return "", 0, fmt.Errorf("well-known of %s: %w", hostname, err)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("well-known of %s: %w", hostname, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWellKnownBytes+1))
	if err != nil {
		return "", 0, fmt.Errorf("well-known of %s: read: %w", hostname, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("well-known of %s: %w", hostname, &HTTPError{Status: resp.StatusCode})
	}
	if len(body) > maxWellKnownBytes {
		return "", 0, fmt.Errorf("well-known of %s: %w", hostname, ErrResponseTooLarge)
	}
	var doc struct {
		Server *string `json:"m.server"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", 0, fmt.Errorf("well-known of %s: %w", hostname, err)
	}
	if doc.Server == nil {
		return "", 0, fmt.Errorf("well-known of %s: no m.server", hostname)
	}
	delegated, err := id.ParseServerName(*doc.Server)
	if err != nil {
		return "", 0, fmt.Errorf("well-known of %s: m.server: %w: %w", hostname, ErrInvalidServerName, err)
	}
	return delegated, cacheDuration(resp.Header), nil
}

// cacheDuration reads Cache-Control: max-age (no-store and no-cache mean
// the minimum) and clamps it to [MinWellKnownCache, MaxWellKnownCache].
func cacheDuration(h http.Header) time.Duration {
	d := DefaultWellKnownCache
	for _, cc := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(cc, ",") {
			dir = strings.ToLower(strings.TrimSpace(dir))
			switch {
			case dir == "no-store" || dir == "no-cache":
				return MinWellKnownCache
			case strings.HasPrefix(dir, "max-age="):
				if n, err := strconv.ParseInt(strings.Trim(dir[len("max-age="):], `"`), 10, 64); err == nil && n >= 0 {
					d = time.Duration(min(n, int64(MaxWellKnownCache/time.Second))) * time.Second
				}
			}
		}
	}
	return min(max(d, MinWellKnownCache), MaxWellKnownCache)
}

// errTooManyRedirects stops a redirect chain.
var errTooManyRedirects = errors.New("too many redirects")

// checkRedirect follows at most maxWellKnownRedirects redirects, to https
// URLs only, and never one already visited.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxWellKnownRedirects {
		return errTooManyRedirects
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to %s URL", req.URL.Scheme)
	}
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return fmt.Errorf("redirect loop at %s", req.URL)
		}
	}
	return nil
}
