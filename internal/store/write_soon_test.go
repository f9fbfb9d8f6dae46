package store

import (
	"context"
	"testing"
	"time"
)

// TestWriteSoonJoinsTheNextBatch checks that a WriteSoon job does not
// start a batch of its own while its delay runs, and commits in the batch
// of the next Write.
func TestWriteSoonJoinsTheNextBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		soon := make(chan error, 1)
		go func() {
			soon <- db.WriteSoon(ctx, time.Hour, func(tx *Tx) error {
				return tx.CreateUser(ctx, User{UserID: userN(1), CreatedTS: 1})
			})
		}()
		waitQueued(t, db, 1)
		batches := db.w.batches.Load()
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: userN(2), CreatedTS: 2})
		}); err != nil {
			t.Fatal(err)
		}
		if err := <-soon; err != nil {
			t.Fatalf("WriteSoon: %v", err)
		}
		if got := db.w.batches.Load() - batches; got != 1 {
			t.Errorf("%d batches for the two writes, want 1", got)
		}
		for _, i := range []int{1, 2} {
			if _, err := db.User(ctx, userN(i)); err != nil {
				t.Errorf("user %d: %v", i, err)
			}
		}
	})
}

// TestWriteSoonAloneCommits checks that a WriteSoon job with no other
// write to join commits once its delay is over.
func TestWriteSoonAloneCommits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if err := db.WriteSoon(ctx, time.Millisecond, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: userN(3), CreatedTS: 3})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.User(ctx, userN(3)); err != nil {
			t.Errorf("user after WriteSoon: %v", err)
		}
	})
}

// TestCloseRunsWaitingWriteSoon checks that closing the store runs a
// WriteSoon job still waiting for its delay instead of dropping it.
func TestCloseRunsWaitingWriteSoon(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		soon := make(chan error, 1)
		go func() {
			soon <- db.WriteSoon(ctx, time.Hour, func(tx *Tx) error {
				return tx.CreateUser(ctx, User{UserID: userN(4), CreatedTS: 4})
			})
		}()
		waitQueued(t, db, 1)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-soon; err != nil {
			t.Fatalf("WriteSoon: %v", err)
		}
		db, err = Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.User(ctx, userN(4)); err != nil {
			t.Errorf("user after reopening: %v", err)
		}
	})
}
