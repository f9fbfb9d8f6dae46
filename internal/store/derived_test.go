package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestDerivedSQLitePath(t *testing.T) {
	for in, want := range map[string]string{
		"/data/hafen.db":      "/data/hafen-derived.db",
		"/data/hafen":         "/data/hafen-derived",
		"/data.d/hafen":       "/data.d/hafen-derived",
		"rel/hafen.sqlite":    "rel/hafen-derived.sqlite",
		"/data/hafen.v2.db":   "/data/hafen.v2-derived.db",
		"/data/hafen-test.db": "/data/hafen-test-derived.db",
	} {
		if got := derivedSQLitePath(filepath.FromSlash(in)); got != filepath.FromSlash(want) {
			t.Errorf("derivedSQLitePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDerivedDatabaseWritesBesideTheMainWriter checks that a write to the
// derived database commits while a write of the main database holds its
// writer (on SQLite, where the derived database is a file of its own),
// and that its statements read the main database's events; on PostgreSQL
// the derived database is the database itself.
func TestDerivedDatabaseWritesBesideTheMainWriter(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		db := openTestDB(t, dsn)
		ctx := context.Background()
		if db.b.d.name() != "sqlite" {
			if db.Derived() != db {
				t.Fatal("Derived on PostgreSQL is another database")
			}
			return
		}
		if db.Derived() == db {
			t.Fatal("Derived on SQLite is the main database")
		}
		if _, err := os.Stat(derivedSQLitePath(dsn)); err != nil {
			t.Fatalf("derived file: %v", err)
		}
		ev := testEvent(roomA, 1)
		insertEvents(t, db, ev)

		holding, release := make(chan struct{}), make(chan struct{})
		mainDone := make(chan error, 1)
		go func() {
			mainDone <- db.Write(ctx, func(tx *Tx) error {
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		// Bounded only so that a regression fails instead of hanging.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err := db.Derived().Write(wctx, func(tx *Tx) error {
			return tx.IndexEventTextOf(wctx, ev.EventID, "words beside the writer")
		})
		close(release)
		if err != nil {
			t.Fatalf("derived write while the main writer is held: %v", err)
		}
		if err := <-mainDone; err != nil {
			t.Fatal(err)
		}
		hits, err := db.Derived().SearchEvents(ctx, SearchQuery{Terms: []string{"beside"}, Rooms: []id.RoomID{roomA},
			Types: []string{"m.room.message"}, Limit: 10})
		if err != nil || len(hits) != 1 || hits[0].EventID != ev.EventID {
			t.Errorf("search of the derived index = %v, %v; want %s", hits, err, ev.EventID)
		}
	})
}

// TestDerivedDatabaseRecreated checks that a SQLite database whose
// derived file is gone (deleted by an operator, or never restored from a
// backup) opens with an empty derived database, so its consumers rebuild
// it from the start of the stream.
func TestDerivedDatabaseRecreated(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "hafen.db")
	db, err := Open(context.Background(), dsn, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write(t, db.Derived(), func(tx *Tx) error { return tx.SetConsumerPosition(ctx, SearchIndexConsumer, 7) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(derivedSQLitePath(dsn) + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	db = openTestDB(t, dsn)
	if pos, ok, err := db.Derived().ConsumerPosition(ctx, SearchIndexConsumer); err != nil || ok {
		t.Errorf("position in the recreated derived database = %d, %v, %v; want none", pos, ok, err)
	}
}
