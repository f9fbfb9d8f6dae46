package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatalf("first Open: %v", err)
		}
		write(t, db, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: "@alice:hafen.test", CreatedTS: 1})
		})
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i := range 2 {
			db, err := Open(ctx, dsn, testLogger())
			if err != nil {
				t.Fatalf("reopen %d: %v", i, err)
			}
			if got, want := countRows(t, db, "schema_migrations"), int64(len(migrations)); got != want {
				t.Errorf("reopen %d: schema_migrations rows = %d, want %d", i, got, want)
			}
			u, err := db.User(ctx, "@alice:hafen.test")
			if err != nil {
				t.Errorf("reopen %d: User: %v", i, err)
			} else if u.CreatedTS != 1 {
				t.Errorf("reopen %d: CreatedTS = %d, want 1", i, u.CreatedTS)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		write(t, db, func(tx *Tx) error {
			_, err := tx.q.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_ts) VALUES ($1, $2, $3)`,
				schemaVersion()+1, "from the future", 0)
			return err
		})
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		db, err = Open(ctx, dsn, testLogger())
		if !errors.Is(err, ErrSchemaTooNew) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("Open of newer schema = %v, want ErrSchemaTooNew", err)
		}
	})
}

func TestCheckMigrations(t *testing.T) {
	tests := []struct {
		name    string
		ms      []migration
		wantErr bool
	}{
		{"shipped list", migrations, false},
		{"empty", nil, true},
		{"starts at 2", []migration{{version: 2}}, true},
		{"gap", []migration{{version: 1}, {version: 3}}, true},
		{"duplicate", []migration{{version: 1}, {version: 1}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkMigrations(tc.ms); (err != nil) != tc.wantErr {
				t.Errorf("checkMigrations = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestRenderSchema(t *testing.T) {
	for _, d := range []dialect{sqliteDialect{}, postgresDialect{}} {
		t.Run(d.name(), func(t *testing.T) {
			got, err := renderSchema(d, "CREATE TABLE x (a {{bigserial_pk}}, b {{bytes}})")
			if err != nil || strings.Contains(got, "{{") {
				t.Errorf("renderSchema = %q, %v; want all tokens replaced", got, err)
			}
			if _, err := renderSchema(d, "CREATE TABLE x (a {{nonsense}})"); err == nil {
				t.Errorf("renderSchema with unknown token: no error")
			}
		})
	}
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		dsn     string
		wantErr bool
	}{
		{"plain path", filepath.Join(dir, "a.db"), false},
		{"sqlite: prefix", "sqlite:" + filepath.Join(dir, "b.db"), false},
		{"empty", "", true},
		{"in-memory", ":memory:", true},
		{"query in path", filepath.Join(dir, "c.db") + "?mode=ro", true},
		{"missing directory", filepath.Join(dir, "no", "such", "d.db"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(context.Background(), tc.dsn, testLogger())
			if (err != nil) != tc.wantErr {
				t.Errorf("Open(%q) error = %v, want error %v", tc.dsn, err, tc.wantErr)
			}
			if db != nil {
				if err := db.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "p.db"))
	ctx := context.Background()
	var mode string
	if err := db.q.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk int
	if err := db.q.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if fk != 1 {
		t.Errorf("foreign_keys = %d, want 1", fk)
	}
	// The read pool is query-only: writes must go through the writer.
	if _, err := db.q.ExecContext(ctx, "DELETE FROM users"); err == nil {
		t.Errorf("write on the read pool succeeded, want query-only error")
	}
}

// TestSQLiteSynchronous checks that commits are synced at every commit by
// default (FULL, so a write that returned survives a power loss) and that
// operators can choose NORMAL.
func TestSQLiteSynchronous(t *testing.T) {
	tests := []struct {
		name    string
		opt     SQLiteSynchronous
		want    int // PRAGMA synchronous: 1 NORMAL, 2 FULL
		wantErr bool
	}{
		{"default is full", "", 2, false},
		{"full", SQLiteSyncFull, 2, false},
		{"normal", SQLiteSyncNormal, 1, false},
		{"off is refused", "off", 0, true},
		{"unknown is refused", "fast", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := OpenWith(ctx, filepath.Join(t.TempDir(), "s.db"), testLogger(), Options{SQLiteSynchronous: tc.opt})
			if tc.wantErr {
				if err == nil {
					db.Close()
					t.Fatalf("OpenWith(%q) succeeded, want error", tc.opt)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenWith(%q): %v", tc.opt, err)
			}
			defer db.Close()
			var got int
			if err := db.b.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("synchronous with %q = %d, want %d", tc.opt, got, tc.want)
			}
		})
	}
}

// TestSQLiteMemoryIsBounded checks what bounds SQLite's memory, which
// lives outside the Go heap: every connection's page cache is capped
// (readers' below SQLite's default of 2000 KiB), and the read pool at
// sqliteMaxReaders connections.
func TestSQLiteMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := db.b.read.Stats().MaxOpenConnections; n != sqliteReaders(runtime.NumCPU()) {
		t.Errorf("read pool of %d connections, want %d", n, sqliteReaders(runtime.NumCPU()))
	}
	for _, tc := range []struct{ ncpu, want int }{{1, 4}, {2, 4}, {6, 6}, {64, sqliteMaxReaders}} {
		if got := sqliteReaders(tc.ncpu); got != tc.want {
			t.Errorf("sqliteReaders(%d) = %d, want %d", tc.ncpu, got, tc.want)
		}
	}
	for _, p := range []struct {
		name string
		pool *sql.DB
		kib  int
	}{{"write", db.b.write, sqliteWriteCacheKiB}, {"read", db.b.read, sqliteReadCacheKiB}} {
		var got int
		if err := p.pool.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != -p.kib {
			t.Errorf("%s pool: cache_size = %d, want %d", p.name, got, -p.kib)
		}
	}
}

// TestSQLiteWriterTempStoreInMemory checks that the writer keeps
// statement journals in memory (temp_store 2, MEMORY): a multi-row insert
// then never writes them to a temporary file.
func TestSQLiteWriterTempStoreInMemory(t *testing.T) {
	ctx := context.Background()
	db, err := OpenWith(ctx, filepath.Join(t.TempDir(), "s.db"), testLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got int
	if err := db.b.write.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != 2 {
		t.Errorf("writer's temp_store = %d, want 2 (memory)", got)
	}
}
