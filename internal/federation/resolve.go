package federation

// Spec: Server-Server API § Resolving server names
// https://spec.matrix.org/v1.19/server-server-api/#resolving-server-names

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// defaultPort is the federation port when neither the server name, its
// delegation nor SRV records give one.
const defaultPort = 8448

// targetCacheTTL is how long a resolved Target is reused; the well-known
// answer inside it has its own, longer cache.
const targetCacheTTL = 5 * time.Minute

// maxTargets bounds the Target cache, as maxWellKnownEntries does.
const maxTargets = 10000

// Target is where requests for a server name go, and how.
type Target struct {
	// Addrs are the host:port pairs to connect to, in order of preference;
	// a host that is not an IP literal is resolved with A/AAAA records when
	// dialing.
	Addrs []string
	// Host is the Host header of requests.
	Host string
	// TLSName is the name the server's certificate must be valid for: a
	// host name (sent as SNI) or an IP address (no SNI).
	TLSName string
}

// splitServerName returns the host of a server name (without brackets),
// its port (0 if none) and whether the host is an IP literal.
func splitServerName(s id.ServerName) (host string, port int, isIP bool, err error) {
	if _, err := id.ParseServerName(string(s)); err != nil {
		return "", 0, false, fmt.Errorf("%w: %w", ErrInvalidServerName, err)
	}
	host = string(s)
	if h, p, err := net.SplitHostPort(host); err == nil {
		host = h
		port, _ = strconv.Atoi(p) // the grammar checked it
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	_, err = netip.ParseAddr(host)
	return host, port, err == nil, nil
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// resolver resolves server names to Targets and caches the results.
type resolver struct {
	dns       Resolver
	wellKnown *wellKnownCache
	now       func() time.Time

	mu      sync.Mutex // leaf: guards targets
	targets map[id.ServerName]cachedTarget
}

type cachedTarget struct {
	t       Target
	expires time.Time
}

// Resolve returns where requests for server go, following the spec's
// order.
func (r *resolver) Resolve(ctx context.Context, server id.ServerName) (Target, error) {
	now := r.now()
	r.mu.Lock()
	c, ok := r.targets[server]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.t, nil
	}
	t, err := r.resolve(ctx, server)
	if err != nil {
		return Target{}, err
	}
	r.mu.Lock()
	if len(r.targets) >= maxTargets {
		clear(r.targets)
	}
	r.targets[server] = cachedTarget{t: t, expires: now.Add(targetCacheTTL)}
	r.mu.Unlock()
	return t, nil
}

func (r *resolver) resolve(ctx context.Context, server id.ServerName) (Target, error) {
	host, port, isIP, err := splitServerName(server)
	if err != nil {
		return Target{}, err
	}
	// 1: an IP literal, with its port or 8448; the certificate must be
	// valid for the IP address; Host is the server name.
	if isIP {
		return Target{Addrs: []string{hostPort(host, orDefault(port, defaultPort))}, Host: string(server), TLSName: host}, nil
	}
	// 2: a host name with an explicit port.
	if port != 0 {
		return Target{Addrs: []string{hostPort(host, port)}, Host: string(server), TLSName: host}, nil
	}
	// 3: /.well-known/matrix/server.
	if delegated, err := r.wellKnown.lookup(ctx, host); err == nil {
		return r.resolveDelegated(ctx, delegated)
	} else if ctx.Err() != nil {
		return Target{}, err
	}
	// 4, 5: SRV records of the host name; 6: port 8448. Host and
	// certificate name stay the server's host name.
	addrs, err := r.srv(ctx, host)
	if err != nil {
		return Target{}, err
	}
	if len(addrs) == 0 {
		addrs = []string{hostPort(host, defaultPort)}
	}
	return Target{Addrs: addrs, Host: host, TLSName: host}, nil
}

// resolveDelegated applies steps 3.1–3.5 to the m.server of a well-known
// answer.
func (r *resolver) resolveDelegated(ctx context.Context, delegated id.ServerName) (Target, error) {
	dhost, dport, isIP, err := splitServerName(delegated)
	if err != nil {
		return Target{}, err
	}
	switch {
	case isIP:
		// 3.1: the IP address with its port or 8448; Host is the
		// delegated name as given (with the port if it had one).
		return Target{Addrs: []string{hostPort(dhost, orDefault(dport, defaultPort))}, Host: string(delegated), TLSName: dhost}, nil
	case dport != 0:
		// 3.2: the delegated host and port; Host includes the port.
		return Target{Addrs: []string{hostPort(dhost, dport)}, Host: string(delegated), TLSName: dhost}, nil
	}
	// 3.3, 3.4: SRV records of the delegated host; 3.5: port 8448.
	addrs, err := r.srv(ctx, dhost)
	if err != nil {
		return Target{}, err
	}
	if len(addrs) == 0 {
		addrs = []string{hostPort(dhost, defaultPort)}
	}
	return Target{Addrs: addrs, Host: dhost, TLSName: dhost}, nil
}

// srv looks up _matrix-fed._tcp.host, then the deprecated _matrix._tcp.host,
// and returns the targets of the first that has records, in the order the
// resolver gives them (by priority, randomised by weight). A missing
// record is not an error.
func (r *resolver) srv(ctx context.Context, host string) ([]string, error) {
	for _, service := range []string{"matrix-fed", "matrix"} {
		_, recs, err := r.dns.LookupSRV(ctx, service, "tcp", host)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && !dnsErr.IsNotFound && dnsErr.IsTemporary {
				return nil, fmt.Errorf("srv lookup for %s: %w", host, err)
			}
			continue
		}
		var out []string
		for _, rec := range recs {
			target := strings.TrimSuffix(rec.Target, ".")
			if target == "" { // "." means the service is not offered
				continue
			}
			out = append(out, hostPort(target, int(rec.Port)))
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// orDefault returns a if it is not zero, else b.
func orDefault(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}
