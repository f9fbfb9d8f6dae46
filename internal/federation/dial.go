package federation

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Resolver answers the DNS queries of server discovery. *net.Resolver
// satisfies it; tests pass a fake.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// nonPublic lists ranges that are not covered by netip's predicates but
// must not be reached from federation either.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID…)
	netip.MustParsePrefix("2002::/16"),       // 6to4, which embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, which embeds any IPv4 address
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
}

// IsPublic reports whether federation may connect to addr when private
// addresses are not allowed: not loopback, private (RFC 1918, fc00::/7),
// link-local, multicast, unspecified, or one of the reserved ranges above.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
func IsPublic(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// dialer dials TCP connections for federation: names are resolved with the
// Resolver, and the address actually dialed is checked in the dialer's
// Control function, the last point before the connection is made.
type dialer struct {
	resolver     Resolver
	allowPrivate bool
	// deny lists ranges refused even when private addresses are allowed.
	deny []netip.Prefix
	net  net.Dialer
}

func newDialer(resolver Resolver, allowPrivate bool, timeout time.Duration) *dialer {
	d := &dialer{resolver: resolver, allowPrivate: allowPrivate}
	d.net = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: d.control}
	return d
}

// control refuses connections to denied addresses, and to non-public
// addresses unless allowed.
func (d *dialer) control(network, address string, _ syscall.RawConn) error {
	if d.allowPrivate && len(d.deny) == 0 {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	for _, p := range d.deny {
		if p.Contains(ap.Addr().Unmap()) {
			return fmt.Errorf("dial %s: %w", address, ErrDeniedAddress)
		}
	}
	if !d.allowPrivate && !IsPublic(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	return nil
}

// dial connects to hostport, resolving a host name with the Resolver and
// trying its addresses in order.
func (d *dialer) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", hostport, err)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		addrs, err := d.resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				ips = append(ips, ip.Unmap())
			}
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: %w", host, ErrNoAddress)
	}
	var errs error
	for _, ip := range ips {
		c, err := d.net.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errs
}
