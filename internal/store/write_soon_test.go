package store

import (
	"context"
	"testing"
	"time"
)

// waitIdle waits until no batch runs and no goroutine holds the role of
// running them.
func waitIdle(t *testing.T, db *DB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		db.w.mu.Lock()
		active := db.w.active
		db.w.mu.Unlock()
		if !active {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writer did not become idle")
		}
		time.Sleep(time.Millisecond)
	}
}

// writeSoon starts WriteSoon creating user i and returns its result.
func writeSoon(db *DB, delay time.Duration, i int) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx := context.Background()
		done <- db.WriteSoon(ctx, delay, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: userN(i), CreatedTS: int64(i)})
		})
	}()
	return done
}

// TestWriteSoonRidesWithTheNextWrite: a WriteSoon on an idle writer waits
// for the next Write and commits in its transaction.
func TestWriteSoonRidesWithTheNextWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		batches := db.w.batches.Load()
		soon := writeSoon(db, time.Hour, 1)
		waitQueued(t, db, 1)
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: userN(2), CreatedTS: 2})
		}); err != nil {
			t.Fatal(err)
		}
		if err := <-soon; err != nil {
			t.Fatalf("WriteSoon = %v", err)
		}
		if got := db.w.batches.Load() - batches; got != 1 {
			t.Errorf("transactions = %d, want 1 for both writes", got)
		}
		if _, err := db.User(ctx, userN(1)); err != nil {
			t.Errorf("WriteSoon's user: %v", err)
		}
	})
}

// TestWriteSoonWaitsAfterABatch: a WriteSoon queued while a batch runs is
// not run alone after it but waits for the next Write.
func TestWriteSoonWaitsAfterABatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		release := blockWriter(t, db)
		soon := writeSoon(db, time.Hour, 1)
		waitQueued(t, db, 1)
		release()
		waitIdle(t, db)
		if n := db.w.queued(); n != 1 {
			t.Fatalf("queued after the batch = %d, want the WriteSoon waiting", n)
		}
		batches := db.w.batches.Load()
		if err := db.Write(ctx, func(*Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := <-soon; err != nil {
			t.Fatalf("WriteSoon = %v", err)
		}
		if got := db.w.batches.Load() - batches; got != 1 {
			t.Errorf("transactions = %d, want 1 for both writes", got)
		}
	})
}

// TestWriteSoonCommitsAloneAfterItsDelay: with no other write coming, a
// WriteSoon commits on its own once its delay has passed.
func TestWriteSoonCommitsAloneAfterItsDelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		if err := <-writeSoon(db, time.Millisecond, 1); err != nil {
			t.Fatalf("WriteSoon = %v", err)
		}
		if _, err := db.User(context.Background(), userN(1)); err != nil {
			t.Errorf("WriteSoon's user: %v", err)
		}
		// The writer is usable afterwards, also by another WriteSoon.
		if err := <-writeSoon(db, time.Millisecond, 2); err != nil {
			t.Fatalf("second WriteSoon = %v", err)
		}
	})
}

// TestWriteSoonCommitsAtClose: Close runs a WriteSoon still waiting.
func TestWriteSoonCommitsAtClose(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		db, err := Open(context.Background(), dsn, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		soon := writeSoon(db, time.Hour, 1)
		waitQueued(t, db, 1)
		db.Close()
		if err := <-soon; err != nil {
			t.Errorf("WriteSoon at Close = %v, want committed", err)
		}
	})
}
