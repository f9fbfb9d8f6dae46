package store

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/hafenchat/hafen/internal/store/storetest"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// forEachDSN runs f once per backend with a fresh, empty database: SQLite in
// t.TempDir() always, PostgreSQL when HAFEN_TEST_POSTGRES_DSN is set.
func forEachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	storetest.ForEachDSN(t, f)
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

// postgresTestDSN returns the DSN of a fresh PostgreSQL schema, or skips
// the test if PostgreSQL is not configured.
func postgresTestDSN(t testing.TB) string {
	t.Helper()
	return storetest.PostgresDSN(t)
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
