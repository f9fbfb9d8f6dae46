package clientapi

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// postgresDSNEnv names the variable that points the tests at a PostgreSQL
// database; each test gets a schema of its own in it, dropped afterwards.
const postgresDSNEnv = "HAFEN_TEST_POSTGRES_DSN"

// forEachRoomEnv runs f on the real room stack once per backend: SQLite in
// t.TempDir() always, PostgreSQL when HAFEN_TEST_POSTGRES_DSN is set.
func forEachRoomEnv(t *testing.T, f func(t *testing.T, e *roomEnv)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, newRoomEnvOn(t, filepath.Join(t.TempDir(), "hafen.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, newRoomEnvOn(t, postgresTestDSN(t)))
	})
}

// postgresTestDSN creates a schema for the test and returns a DSN whose
// search_path selects it. It skips the test if PostgreSQL is not configured.
func postgresTestDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv(postgresDSNEnv)
	if base == "" {
		t.Skipf("%s not set; skipping PostgreSQL (see README)", postgresDSNEnv)
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
	schema := "hafen_clientapi_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the store's own Close, so it runs after it.
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
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
