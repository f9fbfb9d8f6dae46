package fedevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
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
		waitStored(s, "a.example")
		if _, err := db.FederationTxn(ctx, "a.example", "1"); err != nil {
			t.Fatalf("answer not stored: %v", err)
		}
		now = now.Add(TxnRetention + time.Minute)
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "b.example", TxnID: "1"}); err != nil {
			t.Fatal(err)
		}
		waitStored(s, "b.example")
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

// waitStored waits until the answers to the transactions processed so far
// are stored.
func waitStored(s *Service, _ id.ServerName) { s.Close() }

// TestTransactionAnsweredBeforeItsAnswerIsStored: the answer to a
// transaction goes out once its events are processed, without waiting
// for the commit that stores the answer, which follows; the origin's next
// transaction does not wait for it either.
// unknownRooms is an event path that knows no room and counts the PDUs'
// rooms it is asked about.
type unknownRooms struct {
	Rooms
	asked *atomic.Int32
}

func (r unknownRooms) Version(_ context.Context, roomID id.RoomID) (string, error) {
	r.asked.Add(1)
	return "", fmt.Errorf("%w: %s", room.ErrRoomNotFound, roomID)
}

func TestTransactionAnsweredBeforeItsAnswerIsStored(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		var asked atomic.Int32
		s := &Service{ServerName: "hafen.test", DB: db, Rooms: unknownRooms{asked: &asked}, Logger: slog.New(slog.DiscardHandler)}
		// Hold the writer: nothing commits until release is closed.
		release, holding := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() {
			held <- db.Write(ctx, func(*store.Tx) error {
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		answered := make(chan error, 1)
		go func() {
			_, err := s.ProcessTransaction(ctx, Transaction{Origin: "a.example", TxnID: "1"})
			answered <- err
		}()
		select {
		case err := <-answered:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatal("the answer waited for the commit that stores it")
		}
		if _, err := db.FederationTxn(ctx, "a.example", "1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("answer stored while the writer was held: %v", err)
		}
		// A retry before the answer is stored gets the same answer and is
		// not processed again, even with other PDUs.
		type result struct {
			answer json.RawMessage
			err    error
		}
		retried := make(chan result, 1)
		go func() {
			a, err := s.ProcessTransaction(ctx, Transaction{Origin: "a.example", TxnID: "1", PDUs: []json.RawMessage{json.RawMessage(`{"room_id":"!nowhere:a.example","type":"m.room.message"}`)}})
			retried <- result{a, err}
		}()
		select {
		case r := <-retried:
			if r.err != nil || string(r.answer) != `{"pdus":{}}` || asked.Load() != 0 {
				t.Errorf("retry before the answer was stored = %s, %v; want {\"pdus\":{}} without processing (rooms looked up: %d)", r.answer, r.err, asked.Load())
			}
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatal("the retry was processed again instead of getting the answer sent")
		}
		next := make(chan error, 1)
		go func() {
			_, err := s.ProcessTransaction(ctx, Transaction{Origin: "a.example", TxnID: "2"})
			next <- err
		}()
		select {
		case err := <-next:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatal("the origin's next transaction waited for the answer to the one before")
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		waitStored(s, "a.example")
		if got, err := db.FederationTxn(ctx, "a.example", "1"); err != nil || string(got) != `{"pdus":{}}` {
			t.Errorf("stored answer = %s, %v; want {\"pdus\":{}}", got, err)
		}
	})
}
