package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// The defaults of BodyDeadline, applied by Middleware.
const (
	// BodyReadGrace is how long any request body may take on top of
	// what BodyMinRate allows for its size.
	BodyReadGrace = 30 * time.Second
	// BodyMinRate is the slowest a request body may arrive, in bytes per
	// second, once BodyReadGrace is used up: a large upload that keeps
	// this pace is never cut off.
	BodyMinRate = 16 << 10
)

// BodyDeadline bounds how long a client may take to send a request body,
// so a slow or stalled client cannot hold a connection and a goroutine
// forever: the body must be complete within grace plus its size at
// minRate bytes per second. The deadline moves with every read, so a big
// upload at a steady pace always gets through. Once the body is read the
// deadline is lifted (a long-polling response may take its time).
// Requests without a body pass untouched.
func BodyDeadline(grace time.Duration, minRate int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		b := &deadlineBody{ReadCloser: r.Body, rc: rc, start: time.Now(), grace: grace, minRate: max(minRate, 1)}
		if err := rc.SetReadDeadline(b.start.Add(grace)); err != nil {
			// Not a real connection (a test recorder): nothing to bound.
			next.ServeHTTP(w, r)
			return
		}
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// deadlineBody moves the connection's read deadline as the body arrives.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	grace   time.Duration
	minRate int64
	read    int64
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case b.done:
	case errors.Is(err, io.EOF):
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case n > 0:
		allowed := b.grace + time.Duration(float64(b.read)/float64(b.minRate)*float64(time.Second))
		_ = b.rc.SetReadDeadline(b.start.Add(allowed))
	}
	return n, err
}

// LimitConnsPerIP returns a listener that keeps at most max connections of
// one IP address open at a time: a connection beyond that is closed as soon
// as it is accepted. Addresses for which exempt reports true (trusted
// proxies, which carry many clients' connections) are not counted. max <= 0
// returns ln as it is.
func LimitConnsPerIP(ln net.Listener, max int, exempt func(netip.Addr) bool) net.Listener {
	if max <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, max: max, exempt: exempt, open: map[netip.Addr]int{}}
}

type connLimiter struct {
	net.Listener
	max    int
	exempt func(netip.Addr) bool

	mu   sync.Mutex
	open map[netip.Addr]int
}

// Accept returns the next connection within the limit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			return c, nil
		}
		ip := ap.Addr().Unmap()
		if l.exempt != nil && l.exempt(ip) {
			return c, nil
		}
		l.mu.Lock()
		ok := l.open[ip] < l.max
		if ok {
			l.open[ip]++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// countedConn gives its slot back when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
