package store

import (
	"context"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestNotificationsReadTheirEvent stores notifications without the
// event's columns and reads them back with the event's room, ID and
// timestamp; default actions round-trip, highlights filter, a duplicate is
// kept once.
func TestNotificationsReadTheirEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const bob = id.UserID("@bob:hafen.test")
		_, pos := insertEvents(t, db, testEvent(roomA, 1), testEvent(roomB, 2), testEvent(roomA, 3))
		mention := []byte(`["notify",{"set_tweak":"highlight"}]`)
		add := []Notification{
			{UserID: bob, StreamPos: pos[2], Actions: mention, Highlight: true},
			{UserID: bob, StreamPos: pos[0], Actions: []byte(defaultNotificationActions)},
			{UserID: alice, StreamPos: pos[1], Actions: []byte(defaultNotificationActions)},
			{UserID: bob, StreamPos: pos[1], Actions: []byte(`["notify",{"set_tweak":"sound","value":"default"}]`)},
		}
		write(t, db.Derived(), func(tx *Tx) error { return tx.AddNotifications(ctx, add) })
		write(t, db.Derived(), func(tx *Tx) error { return tx.AddNotifications(ctx, add[:1]) }) // kept once
		got, err := db.Derived().Notifications(ctx, bob, 0, 10, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("bob's notifications = %+v, want 3", got)
		}
		want := []struct {
			pos     int64
			room    id.RoomID
			event   id.EventID
			ts      int64
			actions string
		}{
			{pos[2], roomA, "$a-3", 1003, string(mention)},
			{pos[1], roomB, "$b-2", 1002, `["notify",{"set_tweak":"sound","value":"default"}]`},
			{pos[0], roomA, "$a-1", 1001, defaultNotificationActions},
		}
		for i, w := range want {
			g := got[i]
			if g.StreamPos != w.pos || g.RoomID != w.room || g.EventID != w.event || g.TS != w.ts || string(g.Actions) != w.actions || g.UserID != bob {
				t.Errorf("notification %d = %+v, want %+v", i, g, w)
			}
		}
		high, err := db.Derived().Notifications(ctx, bob, 0, 10, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(high) != 1 || high[0].StreamPos != pos[2] || !high[0].Highlight {
			t.Errorf("highlights = %+v", high)
		}
		older, err := db.Derived().Notifications(ctx, bob, pos[2], 1, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(older) != 1 || older[0].StreamPos != pos[1] {
			t.Errorf("page before %d = %+v", pos[2], older)
		}
	})
}

// TestPruneNotifications keeps the newest notifications of a user up to
// the limit, drops those of events older than the cutoff, and leaves other
// users' rows alone.
func TestPruneNotifications(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const bob = id.UserID("@bob:hafen.test")
		var evs []EventRecord
		for i := range 6 {
			evs = append(evs, testEvent(roomA, i)) // origin_server_ts 1000+i
		}
		_, pos := insertEvents(t, db, evs...)
		var ns []Notification
		for _, p := range pos {
			for _, u := range []id.UserID{alice, bob} {
				ns = append(ns, Notification{UserID: u, StreamPos: p, Actions: []byte(defaultNotificationActions)})
			}
		}
		write(t, db.Derived(), func(tx *Tx) error { return tx.AddNotifications(ctx, ns) })
		positions := func(user id.UserID) []int64 {
			t.Helper()
			got, err := db.Derived().Notifications(ctx, user, 0, 100, false)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, n := range got {
				out = append(out, n.StreamPos)
			}
			return out
		}
		var deleted int64
		write(t, db.Derived(), func(tx *Tx) (err error) {
			deleted, err = tx.PruneNotifications(ctx, bob, 4, 0) // keep the newest 4
			return err
		})
		if got := positions(bob); deleted != 2 || len(got) != 4 || got[0] != pos[5] || got[3] != pos[2] {
			t.Errorf("after keeping 4: %v (deleted %d), want positions %v", got, deleted, pos[2:])
		}
		write(t, db.Derived(), func(tx *Tx) (err error) {
			deleted, err = tx.PruneNotifications(ctx, bob, 100, 1004) // events before ts 1004 go
			return err
		})
		if got := positions(bob); deleted != 2 || len(got) != 2 || got[0] != pos[5] || got[1] != pos[4] {
			t.Errorf("after the age cutoff: %v (deleted %d), want positions %v", got, deleted, pos[4:])
		}
		write(t, db.Derived(), func(tx *Tx) (err error) {
			deleted, err = tx.PruneNotifications(ctx, bob, 100, 0)
			return err
		})
		if deleted != 0 {
			t.Errorf("a prune with nothing to prune deleted %d", deleted)
		}
		if got := positions(alice); len(got) != 6 {
			t.Errorf("alice's notifications after pruning bob's: %v", got)
		}
	})
}

// TestNotificationsMigrationKeepsRows stores a notification in the first
// table, upgrades, and reads it back from the compact one (on SQLite,
// moved into the derived database with the notifier's position).
func TestNotificationsMigrationKeepsRows(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		all := migrations
		t.Cleanup(func() { migrations = all })
		migrations = all[:33] // the schema before migration 34
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatalf("Open at version 33: %v", err)
		}
		var pos int64
		write(t, db, func(tx *Tx) error {
			var err error
			if _, pos, err = tx.InsertEvent(ctx, testEvent(roomA, 7)); err != nil {
				return err
			}
			_, err = tx.q.ExecContext(ctx, `INSERT INTO notifications (user_id, stream_pos, room_id, event_id, actions, highlight, ts)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, string(alice), pos, string(roomA), "$a-7", `["notify",{"set_tweak":"highlight"}]`, true, 1007)
			if err != nil {
				return err
			}
			return tx.SetConsumerPosition(ctx, NotificationsConsumer, pos)
		})
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		migrations = all
		db = openTestDB(t, dsn)
		got, err := db.Derived().Notifications(ctx, alice, 0, 10, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].StreamPos != pos || got[0].EventID != "$a-7" || got[0].RoomID != roomA || got[0].TS != 1007 ||
			string(got[0].Actions) != `["notify",{"set_tweak":"highlight"}]` {
			t.Errorf("after the upgrade: %+v", got)
		}
		if stored, ok, err := db.Derived().ConsumerPosition(ctx, NotificationsConsumer); err != nil || !ok || stored != pos {
			t.Errorf("notifier position after the upgrade = %d, %v, %v; want %d", stored, ok, err, pos)
		}
		// Opening again moves nothing twice.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openTestDB(t, dsn)
		if got, err := db.Derived().Notifications(ctx, alice, 0, 10, true); err != nil || len(got) != 1 {
			t.Errorf("after opening again: %+v, %v; want the one notification", got, err)
		}
	})
}
