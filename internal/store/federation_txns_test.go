package store

import (
	"context"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestFederationTxns records answers to inbound transactions: the first
// answer of an origin and transaction ID stays, other origins have their
// own, and old answers expire.
func TestFederationTxns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, err := db.FederationTxn(ctx, "a.example", "1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("FederationTxn(unknown) = %v, want ErrNotFound", err)
		}
		err := db.Write(ctx, func(tx *Tx) error {
			if err := tx.AddFederationTxn(ctx, "a.example", "1", []byte(`{"pdus":{"$a":{}}}`), 100); err != nil {
				return err
			}
			if err := tx.AddFederationTxn(ctx, "a.example", "1", []byte(`{"pdus":{}}`), 200); err != nil {
				return err
			}
			return tx.AddFederationTxn(ctx, "b.example", "1", []byte(`{"pdus":{"$b":{}}}`), 300)
		})
		if err != nil {
			t.Fatal(err)
		}
		for origin, want := range map[string]string{"a.example": `{"pdus":{"$a":{}}}`, "b.example": `{"pdus":{"$b":{}}}`} {
			got, err := db.FederationTxn(ctx, id.ServerName(origin), "1")
			if err != nil || string(got) != want {
				t.Errorf("FederationTxn(%s, 1) = %s, %v; want %s", origin, got, err, want)
			}
		}
		var n int64
		if err := db.Write(ctx, func(tx *Tx) (err error) { n, err = tx.DeleteFederationTxnsBefore(ctx, 250); return err }); err != nil || n != 1 {
			t.Fatalf("DeleteFederationTxnsBefore(250) = %d, %v; want 1", n, err)
		}
		if _, err := db.FederationTxn(ctx, "a.example", "1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after expiry: FederationTxn(a.example, 1) = %v, want ErrNotFound", err)
		}
	})
}
