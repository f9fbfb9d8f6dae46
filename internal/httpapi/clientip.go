package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type clientIPKey struct{}

// TrustProxies makes ClientIP believe the X-Forwarded-For header of
// requests whose peer is one of the trusted proxies. The client is then
// the rightmost address of the header that is not itself a trusted proxy
// (addresses further left were written by the client and prove nothing).
// Requests from any other peer keep the peer's address, whatever header
// they send. With no trusted proxies, next is returned as it is.
func TrustProxies(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, ok := peerAddr(r)
		if !ok || !isTrusted(peer) {
			next.ServeHTTP(w, r)
			return
		}
		client := peer
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHop(hops[i])
			if !ok {
				break // a malformed hop: trust nothing to its left
			}
			client = a
			if !isTrusted(a) {
				break
			}
		}
		ctx := context.WithValue(r.Context(), clientIPKey{}, client.Unmap().String())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// parseHop parses one X-Forwarded-For entry: an address, optionally with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

// peerAddr returns the address of the TCP peer of r.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr(), true
}

// ClientIP returns the IP address of the client that sent r, the
// rate-limit key of an unauthenticated request: the peer's address or,
// when the peer is a trusted proxy (see TrustProxies), the client it
// forwarded the request for.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
