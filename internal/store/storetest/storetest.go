// Package storetest gives the tests of packages above store a fresh
// database on each backend: SQLite in a temporary directory always, and
// PostgreSQL when HAFEN_TEST_POSTGRES_DSN points at a server (each test
// gets a schema of its own, dropped afterwards). It is imported by tests
// only.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// PostgresDSNEnv names the variable that points the tests at a PostgreSQL
// database.
const PostgresDSNEnv = "HAFEN_TEST_POSTGRES_DSN"

// Backends returns the subtest names ForEachDSN runs, one per backend.
func Backends() []string { return []string{"sqlite", "postgres"} }

// ForEachDSN runs f as one subtest per backend, named after it, with the
// DSN of a fresh, empty database. The PostgreSQL subtest is skipped when
// HAFEN_TEST_POSTGRES_DSN is not set.
func ForEachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) { f(t, DSN(t, b)) })
	}
}

// DSN returns the DSN of a fresh, empty database on the named backend
// ("sqlite" or "postgres"), skipping the test when PostgreSQL is asked for
// and not configured.
func DSN(t testing.TB, backend string) string {
	t.Helper()
	if backend == "postgres" {
		return PostgresDSN(t)
	}
	return filepath.Join(t.TempDir(), "hafen.db")
}

// PostgresDSN creates a schema of its own for the test and returns a DSN
// whose search_path selects it. It skips the test if PostgreSQL is not
// configured.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresDSNEnv)
	if base == "" {
		t.Skipf("%s not set; skipping PostgreSQL (see README)", PostgresDSNEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresDSNEnv, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "hafen_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the test opens its database, so it runs after
	// the database's Close.
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresDSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
