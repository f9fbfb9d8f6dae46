package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// serveOn starts a real http.Server on loopback for h and returns its
// address.
func serveOn(t *testing.T, ln net.Listener, h http.Handler) string {
	t.Helper()
	srv := NewServer(h, nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// readAll reads from c until the server closes it or the guard expires
// (the guard only keeps a broken build from hanging the test run).
func readAll(t *testing.T, c net.Conn) (string, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func echoLen() http.Handler {
	return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, map[string]int64{"n": n})
	})
}

func TestBodyDeadlineCutsStalledBody(t *testing.T) {
	// Behind the access log and recovery, as in Middleware: the deadline
	// reaches the connection through their response writer.
	addr := serveOn(t, listen(t), AccessLog(nil, Recover(BodyDeadline(100*time.Millisecond, 1<<20, echoLen()))))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Headers promise 100 bytes; 10 arrive, then the client stalls.
	fmt.Fprintf(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	out, err := readAll(t, c)
	if err != nil {
		t.Fatalf("the server kept a stalled request body open: %v (read %q)", err, out)
	}
	if strings.Contains(out, "200 OK") {
		t.Errorf("a truncated body was accepted: %q", out)
	}
}

func TestBodyDeadlineLetsSteadyBodyThrough(t *testing.T) {
	// The grace alone is too short for the whole body, but every chunk
	// arrives well within what the minimum rate allows for it.
	addr := serveOn(t, listen(t), BodyDeadline(200*time.Millisecond, 1<<30, echoLen()))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const chunks, size = 5, 64 << 10
	fmt.Fprintf(c, "PUT /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", chunks*size)
	chunk := strings.Repeat("a", size)
	for range chunks {
		if _, err := io.WriteString(c, chunk); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprint(chunks*size)) {
		t.Errorf("steady upload: %d %s", resp.StatusCode, body)
	}
}

func TestLimitConnsPerIP(t *testing.T) {
	ln := LimitConnsPerIP(listen(t), 2, nil)
	addr := serveOn(t, ln, echoLen())
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// roundTrip sends one keep-alive request on c and reports whether it
	// was answered.
	roundTrip := func(c net.Conn) bool {
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	a, b := dial(), dial()
	defer a.Close()
	if !roundTrip(a) || !roundTrip(b) {
		t.Fatal("connections within the limit were not served")
	}
	third := dial()
	defer third.Close()
	if roundTrip(third) {
		t.Error("a third connection from the same address was served")
	}
	// Closing one frees its slot.
	b.Close()
	for guard := time.Now().Add(20 * time.Second); time.Now().Before(guard); {
		c := dial()
		ok := roundTrip(c)
		c.Close()
		if ok {
			return
		}
	}
	t.Error("a slot freed by a closed connection was never reused")
}

func TestLimitConnsPerIPExempt(t *testing.T) {
	ln := LimitConnsPerIP(listen(t), 1, func(a netip.Addr) bool { return a.IsLoopback() })
	addr := serveOn(t, ln, echoLen())
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("exempt connection %d: %v", i, err)
		}
		resp.Body.Close()
	}
}

func TestInFlightWaitsForHandlers(t *testing.T) {
	var f InFlight
	release := make(chan struct{})
	entered := make(chan struct{})
	h := f.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil while a handler runs")
	}
	close(release)
	if err := f.Wait(context.Background()); err != nil {
		t.Fatalf("Wait after the handler returned = %v", err)
	}
}
