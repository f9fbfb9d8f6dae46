package store

import (
	"context"
	"testing"
)

// TestTxnIDsScopeMigrationKeepsRows opens a database at the schema before
// transaction scopes, records a transaction the old way, and checks that
// after the upgrade it is found under the scope of /send it was made on.
func TestTxnIDsScopeMigrationKeepsRows(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		all := migrations
		t.Cleanup(func() { migrations = all })
		migrations = all[:4] // the schema before migration 5
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatalf("Open at version 4: %v", err)
		}
		write(t, db, func(tx *Tx) error {
			if _, _, err := tx.InsertEvent(ctx, EventRecord{
				EventID: "$old", RoomID: "!r:hafen.test", Type: "m.room.message", Sender: alice,
				Depth: 1, OriginServerTS: 10, JSON: []byte(`{}`),
			}); err != nil {
				return err
			}
			_, err := tx.q.ExecContext(ctx,
				`INSERT INTO txn_ids (user_id, device_id, txn_id, event_id, created_ts) VALUES ($1, $2, $3, $4, $5)`,
				string(alice), "PHONE", "t1", "$old", 10)
			return err
		})
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		migrations = all
		db = openTestDB(t, dsn)
		k := TxnKey{UserID: alice, DeviceID: "PHONE", Scope: "send:!r:hafen.test:m.room.message", TxnID: "t1"}
		if got, err := db.TxnEventID(ctx, k); err != nil || got != "$old" {
			t.Errorf("TxnEventID(%s) after the upgrade = %s, %v; want $old", k, got, err)
		}
		other := k
		other.Scope = "send:!elsewhere:hafen.test:m.room.message"
		if got, err := db.TxnEventID(ctx, other); err == nil {
			t.Errorf("TxnEventID(%s) = %s, want not found", other, got)
		}
	})
}
