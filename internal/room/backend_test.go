package room

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// forEachBackend runs f once per backend with the DSN of a fresh, empty
// database: SQLite in t.TempDir() always, PostgreSQL (a schema of its own)
// when HAFEN_TEST_POSTGRES_DSN is set.
func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, filepath.Join(t.TempDir(), "hafen.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("HAFEN_TEST_POSTGRES_DSN")
		if base == "" {
			t.Skip("HAFEN_TEST_POSTGRES_DSN not set; skipping PostgreSQL (see README)")
		}
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { admin.Close() })
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		schema := "room_test_" + hex.EncodeToString(b[:])
		ctx := context.Background()
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		// Registered before the store's Close, so it runs after it.
		t.Cleanup(func() {
			if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parse DSN: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		f(t, u.String())
	})
}
