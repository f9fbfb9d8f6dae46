package fedevents

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// openStore opens a fresh store on dsn.
func openStore(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTransactionAnswersExpire stores answers to empty transactions: a
// retry within the retention gets the stored answer, and an answer older
// than the retention is deleted when a later one is stored.
func TestTransactionAnswersExpire(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		s := &Service{ServerName: "hafen.test", DB: db, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
		first, err := s.ProcessTransaction(ctx, Transaction{Origin: "a.example", TxnID: "1"})
		if err != nil || string(first) != `{"pdus":{}}` {
			t.Fatalf("ProcessTransaction = %s, %v", first, err)
		}
		if _, err := db.FederationTxn(ctx, "a.example", "1"); err != nil {
			t.Fatalf("answer not stored: %v", err)
		}
		now = now.Add(TxnRetention + time.Minute)
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "b.example", TxnID: "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.FederationTxn(ctx, "a.example", "1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("answer older than the retention: FederationTxn = %v, want ErrNotFound", err)
		}
		if _, err := db.FederationTxn(ctx, "b.example", "1"); err != nil {
			t.Errorf("new answer: %v", err)
		}
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "a.example", TxnID: "2", PDUs: make([]json.RawMessage, MaxPDUs+1)}); !errors.Is(err, ErrTooManyPDUs) {
			t.Errorf("%d PDUs: %v, want ErrTooManyPDUs", MaxPDUs+1, err)
		}
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "a.example", TxnID: "2", EDUs: make([]EDU, MaxEDUs+1)}); !errors.Is(err, ErrTooManyEDUs) {
			t.Errorf("%d EDUs: %v, want ErrTooManyEDUs", MaxEDUs+1, err)
		}
	})
}
