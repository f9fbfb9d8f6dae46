package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestFewerBtreesMigration opens a database at the schema before
// migrations 38 and 39, stores a transaction, a member event with its
// state group and replaced event, and the room's extremities, and checks
// that after the upgrade the transaction is still found (and refused a
// second time), the member event is still found by range, its state and
// the extremities are kept, and, on SQLite, that txn_ids and
// room_extremities are WITHOUT ROWID tables, event_state has no index
// beside its rowid, and the range query reads the partial index of member
// events.
func TestFewerBtreesMigration(t *testing.T) {
	const bob = id.UserID("@bob:hafen.test")
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		all := migrations
		t.Cleanup(func() { migrations = all })
		migrations = all[:37] // the schema before migration 38
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatalf("Open at version 37: %v", err)
		}
		k := TxnKey{UserID: alice, DeviceID: "PHONE", Scope: "send:!r:hafen.test:m.room.message", TxnID: "t1"}
		bobKey := string(bob)
		var memberPos, memberNID, group int64
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice}); err != nil {
				return err
			}
			var err error
			if group, err = tx.StoreStateGroup(ctx, roomA, 0, map[StateKey]int64{{"m.room.create", ""}: 0}); err != nil {
				return err
			}
			if _, _, err := tx.InsertEvent(ctx, testEvent(roomA, 1)); err != nil {
				return err
			}
			memberNID, memberPos, err = tx.InsertEvent(ctx, EventRecord{
				EventID: "$join", RoomID: roomA, Type: "m.room.member", StateKey: &bobKey, Sender: bob,
				Depth: 2, OriginServerTS: 1002, JSON: []byte(`{}`),
			})
			if err != nil {
				return err
			}
			if err := tx.SetEventStateReplacing(ctx, memberNID, group, 0); err != nil {
				return err
			}
			if err := tx.SetExtremities(ctx, roomA, []id.EventID{"$join", "$a-1"}); err != nil {
				return err
			}
			return tx.AddTxnID(ctx, k, "$a-1", 10)
		})
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		migrations = all
		db = openTestDB(t, dsn)
		if got, err := db.TxnEventID(ctx, k); err != nil || got != "$a-1" {
			t.Errorf("TxnEventID(%s) after the upgrade = %s, %v; want $a-1", k, got, err)
		}
		err = db.Write(ctx, func(tx *Tx) error { return tx.AddTxnID(ctx, k, "$other", 11) })
		if !errors.Is(err, ErrExists) {
			t.Errorf("AddTxnID of a stored transaction = %v, want ErrExists", err)
		}
		evs, err := db.MemberEventsInRange(ctx, roomA, bob, 0, memberPos)
		if err != nil || len(evs) != 1 || evs[0].EventID != "$join" {
			t.Errorf("MemberEventsInRange = %v, %v; want $join", evs, err)
		}
		if got, err := db.StateGroupBeforeEvent(ctx, memberNID); err != nil || got != group {
			t.Errorf("StateGroupBeforeEvent = %d, %v; want %d", got, err, group)
		}
		if got, err := db.StateReplaces(ctx, []int64{memberNID}); err != nil || len(got) != 1 || got[memberNID] != 0 {
			t.Errorf("StateReplaces = %v, %v; want %d replacing 0", got, err, memberNID)
		}
		if got, err := db.Extremities(ctx, roomA); err != nil || len(got) != 2 {
			t.Errorf("Extremities = %v, %v; want $join and $a-1", got, err)
		}
		if db.d.name() != "sqlite" {
			return
		}
		for _, name := range []string{"txn_ids", "room_extremities"} {
			var table string
			if err := db.q.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = $1`, name).Scan(&table); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(table, "WITHOUT ROWID") {
				t.Errorf("%s is %s, want a WITHOUT ROWID table", name, table)
			}
		}
		var indexes int
		if err := db.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event_state'`).Scan(&indexes); err != nil {
			t.Fatal(err)
		}
		if indexes != 0 {
			t.Errorf("event_state has %d indexes, want none beside its rowid", indexes)
		}
		plan := queryPlan(t, db, memberEventsInRangeQuery, string(roomA), string(bob), 0, memberPos)
		if !strings.Contains(plan, "events_room_members") {
			t.Errorf("MemberEventsInRange's plan is %q, want it to use events_room_members", plan)
		}
	})
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN of query, one line per step.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.q.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
