// Package federation is Hafen's outbound Server-Server API client: it finds
// where another server lives (server discovery), connects to it over TLS
// with the right certificate checks, and signs every request with the
// server's key (X-Matrix authentication).
//
// # Discovery
//
// Resolve follows the spec's order for a server name: IP literal; explicit
// port; /.well-known/matrix/server (cached as its Cache-Control says,
// within [MinWellKnownCache, MaxWellKnownCache], failures cached with
// exponential backoff); SRV _matrix-fed._tcp then the deprecated
// _matrix._tcp; port 8448. DNS goes through the Resolver interface, so
// tests answer SRV and address queries without a DNS server.
//
// # Transport
//
// One http.Transport serves every destination: a request's URL names the
// destination server (not a resolved address), so idle connections are
// reused per server, and the transport's dialer resolves the name, dials
// the addresses in order and runs the TLS handshake with the SNI and
// certificate name the spec asks for (no SNI for IP literals).
//
// Every connection, including those of /.well-known requests and their
// redirects, is dialed through a net.Dialer whose Control function checks
// the resolved IP address: loopback, private, link-local and other
// non-public addresses are refused unless AllowPrivate is set, so neither
// a DNS answer nor a redirect can point Hafen at the internal network.
//
// Every call has a deadline: the client's Timeout unless the caller's
// context is shorter.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#server-discovery
// and https://spec.matrix.org/v1.19/server-server-api/#request-authentication
package federation
