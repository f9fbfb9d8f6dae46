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
			return tx.IndexEventTexts(wctx, []SearchText{{EventID: ev.EventID, Text: "words beside the writer"}})
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

// TestDerivedReconciledWithMain checks that opening a SQLite database
// whose derived file holds positions, notifications and index entries
// beyond the main file's last event (the main file lost its last commits
// to a power loss with sqlite_synchronous normal) takes them back to the
// main file's end, keeping what lies within it.
func TestDerivedReconciledWithMain(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "hafen.db")
	db, err := Open(context.Background(), dsn, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nids, pos := insertEvents(t, db, testEvent(roomA, 1), testEvent(roomA, 2))
	write(t, db.Derived(), func(tx *Tx) error {
		if err := tx.SetConsumerPosition(ctx, SearchIndexConsumer, pos[1]+50); err != nil {
			return err
		}
		if err := tx.SetConsumerPosition(ctx, NotificationsConsumer, pos[0]); err != nil {
			return err
		}
		if err := tx.AddNotifications(ctx, []Notification{
			{UserID: alice, StreamPos: pos[1], Actions: []byte(defaultNotificationActions)},
			{UserID: alice, StreamPos: pos[1] + 50, Actions: []byte(defaultNotificationActions)},
		}); err != nil {
			return err
		}
		if err := tx.IndexEventTexts(ctx, []SearchText{{EventID: testEvent(roomA, 2).EventID, Text: "kept"}}); err != nil {
			return err
		}
		_, err := tx.q.ExecContext(ctx, `INSERT INTO event_search (rowid, content) VALUES ($1, 'lost')`, nids[1]+50)
		return err
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTestDB(t, dsn)
	d := db.Derived()
	if got, _, err := d.ConsumerPosition(ctx, SearchIndexConsumer); err != nil || got != pos[1] {
		t.Errorf("search position = %d, %v; want the main file's end %d", got, err, pos[1])
	}
	if got, _, err := d.ConsumerPosition(ctx, NotificationsConsumer); err != nil || got != pos[0] {
		t.Errorf("notifier position = %d, %v; want it kept at %d", got, err, pos[0])
	}
	ns, err := d.Notifications(ctx, alice, 0, 10, false)
	if err != nil || len(ns) != 1 || ns[0].StreamPos != pos[1] {
		t.Errorf("notifications = %+v, %v; want only the one at %d", ns, err, pos[1])
	}
	var rowids []int64
	err = d.scanRows(ctx, `SELECT rowid FROM event_search ORDER BY rowid`, nil, func(scan func(...any) error) error {
		var n int64
		if err := scan(&n); err != nil {
			return err
		}
		rowids = append(rowids, n)
		return nil
	})
	if err != nil || len(rowids) != 1 || rowids[0] != nids[1] {
		t.Errorf("index entries = %v, %v; want only event %d's", rowids, err, nids[1])
	}
}
