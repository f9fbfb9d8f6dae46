package clientapi

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/filter"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// postgresDSNEnv names the variable that points the tests at a PostgreSQL
// database; each test gets its own schema in it, dropped afterwards.
const postgresDSNEnv = "HAFEN_TEST_POSTGRES_DSN"

// forEachRoomEnv runs f once per backend on a fresh stack: SQLite in
// t.TempDir() always, PostgreSQL when HAFEN_TEST_POSTGRES_DSN is set.
func forEachRoomEnv(t *testing.T, f func(t *testing.T, e *roomEnv)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, newRoomEnvDSN(t, filepath.Join(t.TempDir(), "hafen.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, newRoomEnvDSN(t, postgresSchemaDSN(t)))
	})
}

// postgresSchemaDSN creates a schema of its own for the test and returns
// a DSN whose search_path selects it. It skips the test if PostgreSQL is
// not configured.
func postgresSchemaDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(postgresDSNEnv)
	if base == "" {
		t.Skipf("%s not set; skipping PostgreSQL (see CONTRIBUTING.md)", postgresDSNEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", postgresDSNEnv, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "hafen_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the store's Close, so it runs after it.
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", postgresDSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// newRoomEnvDSN builds the stack on the store at dsn (a SQLite path or a
// PostgreSQL URL).
func newRoomEnvDSN(t *testing.T, dsn string) *roomEnv {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(context.Background(), dsn, logger)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:test")
	if err != nil {
		t.Fatal(err)
	}
	svc := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: logger})
	st := newMemStore()
	s := &Server{
		ServerName:   "hafen.test",
		Store:        st,
		Registration: Registration{Enabled: true},
		BcryptCost:   bcrypt.MinCost,
		Rooms: &Rooms{
			Service:   svc,
			Store:     db,
			Directory: &directory.Service{ServerName: "hafen.test", DB: db, Rooms: svc},
			Profiles:  &profile.Service{ServerName: "hafen.test", DB: db, Rooms: svc, Logger: logger},
		},
		Filters: &filter.Service{DB: db},
	}
	rt := httpapi.NewRouter()
	s.Routes(rt)
	h := httpapi.Middleware(logger, rt)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &roomEnv{testEnv: &testEnv{t: t, h: h, srv: s, store: st}, db: db, url: ts.URL}
}
