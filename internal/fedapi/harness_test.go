package fedapi

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/serverkeys"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// backend makes fresh databases of one kind.
type backend func(t *testing.T) string

// forEachBackend runs f on SQLite and, when HAFEN_TEST_POSTGRES_DSN is
// set, on PostgreSQL; newDSN returns a fresh database each call.
func forEachBackend(t *testing.T, f func(t *testing.T, newDSN backend)) {
	t.Helper()
	for _, name := range storetest.Backends() {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" && os.Getenv(storetest.PostgresDSNEnv) == "" {
				t.Skipf("%s not set; skipping PostgreSQL (see CONTRIBUTING.md)", storetest.PostgresDSNEnv)
			}
			f(t, func(t *testing.T) string { return storetest.DSN(t, name) })
		})
	}
}

func sqliteOnly(t *testing.T) string { return storetest.SQLiteDSN(t) }

// clock is a settable clock, starting at the real time plus an offset.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// testServer is one in-process federation stack: database, key store,
// outbound client and the federation router on a loopback TLS listener.
// Its server name is its address, "127.0.0.1:port".
type testServer struct {
	name     id.ServerName
	key      signing.Key
	dsn      string
	db       *store.DB
	client   *federation.Client
	keys     *serverkeys.Keys
	api      *Server
	srv      *httptest.Server
	clock    *clock
	notaries []id.ServerName

	mu       sync.Mutex
	keyHits  int // GET /_matrix/key/v2/server
	extraRts func(s *Server, rt *httpapi.Router)
}

type serverOpt func(*testServer)

func withNotaries(n ...id.ServerName) serverOpt { return func(s *testServer) { s.notaries = n } }
func withClockOffset(d time.Duration) serverOpt {
	return func(s *testServer) { s.clock.offset = d }
}
func withRoutes(f func(s *Server, rt *httpapi.Router)) serverOpt {
	return func(s *testServer) { s.extraRts = f }
}

func newKey(t *testing.T, server id.ServerName) signing.Key {
	t.Helper()
	kid, err := signing.ParseKeyID("ed25519:t_" + strings.ToLower(rand.Text()[:6]))
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.GenerateKey(rand.Reader, server, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startServer starts a test server on a fresh database of newDSN.
func startServer(t *testing.T, newDSN backend, opts ...serverOpt) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{name: id.ServerName(ln.Addr().String()), dsn: newDSN(t), clock: &clock{}}
	for _, o := range opts {
		o(s)
	}
	s.key = newKey(t, s.name)
	s.open(t)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Listener = ln
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

// open opens the database and builds the stack on it (again after a
// restart).
func (s *testServer) open(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, s.dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	s.client = federation.New(federation.Config{ServerName: s.name, Key: s.key, AllowPrivate: true, SkipTLSVerify: true, Now: s.clock.Now})
	t.Cleanup(s.client.Close)
	keys, err := serverkeys.Open(ctx, serverkeys.Config{DB: db, Key: s.key, Client: s.client, Notaries: s.notaries, Now: s.clock.Now})
	if err != nil {
		t.Fatalf("open keys: %v", err)
	}
	s.keys = keys
	s.mu.Lock()
	s.api = &Server{ServerName: s.name, Keys: keys, Version: "test"}
	s.mu.Unlock()
}

// restart closes the database and opens the stack again with key.
func (s *testServer) restart(t *testing.T, key signing.Key) {
	t.Helper()
	s.db.Close()
	s.client.Close()
	s.key = key
	s.open(t)
}

func (s *testServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if r.URL.Path == "/_matrix/key/v2/server" {
		s.keyHits++
	}
	api, extra := s.api, s.extraRts
	s.mu.Unlock()
	rt := httpapi.NewRouter()
	api.Routes(rt)
	if extra != nil {
		extra(api, rt)
	}
	httpapi.Middleware(slog.New(slog.DiscardHandler), rt).ServeHTTP(w, r)
}

func (s *testServer) KeyHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyHits
}

// rawClient sends requests to test servers without signing them.
func rawClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}
