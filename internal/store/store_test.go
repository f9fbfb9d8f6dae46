package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// postgresDSNEnv names the variable that points the tests at a PostgreSQL
// database. Each test gets its own schema in it, dropped afterwards.
const postgresDSNEnv = "HAFEN_TEST_POSTGRES_DSN"

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// forEachDSN runs f once per backend with a fresh, empty database: SQLite in
// t.TempDir() always, PostgreSQL when HAFEN_TEST_POSTGRES_DSN is set.
func forEachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, filepath.Join(t.TempDir(), "hafen.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, postgresTestDSN(t))
	})
}

// forEachBackend runs f once per backend with an opened fresh database,
// closed when the test ends.
func forEachBackend(t *testing.T, f func(t *testing.T, db *DB)) {
	t.Helper()
	forEachDSN(t, func(t *testing.T, dsn string) {
		f(t, openTestDB(t, dsn))
	})
}

func openTestDB(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, testLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// postgresTestDSN creates a schema of its own for the test and returns a DSN
// whose search_path selects it. It skips the test if PostgreSQL is not
// configured.
func postgresTestDSN(t testing.TB) string {
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
	schema := "hafen_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the DB's own Close, so it runs after it.
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

// write runs fn through DB.Write and fails the test on error.
func write(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// countRows returns the number of rows of a table.
func countRows(t testing.TB, db *DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.q.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
