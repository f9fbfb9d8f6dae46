// Package storetest gives tests a fresh, empty database on every backend
// Hafen supports: SQLite in t.TempDir() always, and PostgreSQL, in a
// schema of the test's own that is dropped afterwards, when
// HAFEN_TEST_POSTGRES_DSN points at a server (see CONTRIBUTING.md).
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

// ForEachDSN runs f once per backend with the DSN of a fresh, empty
// database (a SQLite path or a PostgreSQL URL, as store.Open takes).
func ForEachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, SQLiteDSN(t))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, PostgresDSN(t))
	})
}

// Backends returns the subtest names ForEachDSN runs, one per backend.
func Backends() []string { return []string{"sqlite", "postgres"} }

// DSN returns the DSN of a fresh, empty database on the named backend
// ("sqlite" or "postgres"), skipping the test when PostgreSQL is asked for
// and not configured.
func DSN(t testing.TB, backend string) string {
	t.Helper()
	if backend == "postgres" {
		return PostgresDSN(t)
	}
	return SQLiteDSN(t)
}

// SQLiteDSN returns the path of a new SQLite database in t.TempDir().
func SQLiteDSN(t testing.TB) string {
	return filepath.Join(t.TempDir(), "hafen.db")
}

// PostgresDSN creates a schema of its own for the test and returns a DSN
// whose search_path selects it; the schema is dropped when the test ends
// (after cleanups registered later, such as closing the store). It skips
// the test if PostgreSQL is not configured.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresDSNEnv)
	if base == "" {
		t.Skipf("%s not set; skipping PostgreSQL (see CONTRIBUTING.md)", PostgresDSNEnv)
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
	// Registered before the store's own Close, so it runs after it.
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
