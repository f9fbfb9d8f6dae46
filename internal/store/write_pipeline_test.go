package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// persistMessage writes one message the way the event path does: the
// event, the state group before it, its transaction ID and the room's new
// forward extremity.
func persistMessage(ctx context.Context, tx *Tx, group int64, n int, txnID string) error {
	ev := testEvent(roomA, n)
	nid, _, err := tx.InsertEvent(ctx, ev)
	if err != nil {
		return err
	}
	if err := tx.SetEventState(ctx, nid, group); err != nil {
		return err
	}
	if err := tx.AddTxnID(ctx, TxnKey{UserID: alice, DeviceID: "DEV", Scope: "send", TxnID: txnID}, ev.EventID, ev.OriginServerTS); err != nil {
		return err
	}
	return tx.SetExtremities(ctx, roomA, []id.EventID{ev.EventID})
}

func emptyStateGroup(t *testing.T, db *DB) int64 {
	t.Helper()
	var group int64
	write(t, db, func(tx *Tx) error {
		var err error
		group, err = tx.StoreStateGroup(context.Background(), roomA, 0, nil)
		return err
	})
	return group
}

// TestWriterPipelinesOnPostgres checks that the writer sends the statements
// of a write that return nothing but their error together with the next
// statement or the commit: persisting a message takes two round trips
// (BEGIN with the insert that returns the event's NID; the rest with the
// COMMIT) instead of one per statement.
func TestWriterPipelinesOnPostgres(t *testing.T) {
	db := openTestDB(t, postgresTestDSN(t))
	ctx := context.Background()
	group := emptyStateGroup(t, db)
	trips := &db.b.pgWriter.roundTrips

	write(t, db, func(tx *Tx) error {
		return tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice, CreatedTS: 1})
	})
	before := trips.Load()
	write(t, db, func(tx *Tx) error {
		if err := persistMessage(ctx, tx, group, 1, "t1"); err != nil {
			return err
		}
		return tx.AdvanceRoomHead(ctx, roomA, 0, group)
	})
	if got := trips.Load() - before; got != 2 {
		t.Errorf("round trips of one message with the head's fence = %d, want 2", got)
	}

	// A batch of several writes: each write under its savepoint takes two
	// round trips, and the commit one.
	release := blockWriter(t, db)
	const jobs = 4
	results := make(chan error, jobs)
	for i := range jobs {
		go func() {
			results <- db.Write(ctx, func(tx *Tx) error {
				return persistMessage(ctx, tx, group, 10+i, fmt.Sprintf("b%d", i))
			})
		}()
	}
	waitQueued(t, db, jobs)
	before = trips.Load()
	release()
	for range jobs {
		if err := <-results; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	// The blocking write's own commit is one more round trip.
	if got, want := trips.Load()-before, int64(1+2*jobs+1); got != want {
		t.Errorf("round trips of a batch of %d messages = %d, want %d", jobs, got, want)
	}
}

// TestQueuedStatementErrorFailsItsWrite checks that the error of a
// statement the writer queued (a duplicate transaction ID) fails the write
// function that queued it, as ErrExists, and rolls back that function's
// other writes, both when it is the transaction's only write (the error
// arrives with the commit) and inside a batch (it arrives at the end of the
// function), while the batch's other writes commit.
func TestQueuedStatementErrorFailsItsWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		group := emptyStateGroup(t, db)
		write(t, db, func(tx *Tx) error { return persistMessage(ctx, tx, group, 1, "taken") })

		// Alone in its transaction.
		err := db.Write(ctx, func(tx *Tx) error { return persistMessage(ctx, tx, group, 2, "taken") })
		if !errors.Is(err, ErrExists) {
			t.Errorf("lone write with a duplicate transaction ID = %v, want ErrExists", err)
		}
		if _, err := db.Event(ctx, testEvent(roomA, 2).EventID); !errors.Is(err, ErrNotFound) {
			t.Errorf("event of the failed lone write: %v, want ErrNotFound", err)
		}

		// In a batch, between two writes that succeed.
		release := blockWriter(t, db)
		results := make([]chan error, 3)
		for i := range results {
			results[i] = make(chan error, 1)
			txn := fmt.Sprintf("new%d", i)
			if i == 1 {
				txn = "taken"
			}
			go func() {
				results[i] <- db.Write(ctx, func(tx *Tx) error { return persistMessage(ctx, tx, group, 10+i, txn) })
			}()
			waitQueued(t, db, i+1) // keep the batch in this order
		}
		release()
		for i, ch := range results {
			err := <-ch
			if i == 1 {
				if !errors.Is(err, ErrExists) {
					t.Errorf("batched write with a duplicate transaction ID = %v, want ErrExists", err)
				}
				if _, err := db.Event(ctx, testEvent(roomA, 11).EventID); !errors.Is(err, ErrNotFound) {
					t.Errorf("event of the failed batched write: %v, want ErrNotFound", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("write %d of the batch: %v", i, err)
			}
			if _, err := db.Event(ctx, testEvent(roomA, 10+i).EventID); err != nil {
				t.Errorf("event of write %d of the batch: %v", i, err)
			}
		}
		ext, err := db.Extremities(ctx, roomA)
		if err != nil {
			t.Fatal(err)
		}
		if want := []id.EventID{testEvent(roomA, 12).EventID}; fmt.Sprint(ext) != fmt.Sprint(want) {
			t.Errorf("extremities = %v, want %v", ext, want)
		}
	})
}

// TestQueuedStatementErrorReachesLaterRead checks that a read inside a write
// function sees the function's queued writes, and reports a queued
// statement's error instead of running.
func TestQueuedStatementErrorReachesLaterRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		group := emptyStateGroup(t, db)
		write(t, db, func(tx *Tx) error {
			ev := testEvent(roomA, 1)
			nid, _, err := tx.InsertEvent(ctx, ev)
			if err != nil {
				return err
			}
			if err := tx.SetEventState(ctx, nid, group); err != nil {
				return err
			}
			got, err := tx.StateGroupBeforeEvent(ctx, nid)
			if err != nil || got != group {
				t.Errorf("StateGroupBeforeEvent in the same write = %d, %v; want %d", got, err, group)
			}
			return nil
		})
		key := TxnKey{UserID: alice, DeviceID: "DEV", Scope: "send", TxnID: "taken"}
		write(t, db, func(tx *Tx) error { return tx.AddTxnID(ctx, key, "$first", 1) })
		err := db.Write(ctx, func(tx *Tx) error {
			// A duplicate: queued on PostgreSQL, failing at once on SQLite.
			if err := tx.AddTxnID(ctx, key, "$second", 2); err != nil {
				return err
			}
			_, err := tx.StateGroupBeforeEvent(ctx, 1)
			return err
		})
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "add transaction") {
			t.Errorf("write after a failed queued insert = %v, want the insert's ErrExists", err)
		}
		if got, err := db.TxnEventID(ctx, key); err != nil || got != "$first" {
			t.Errorf("transaction after the failed write = %q, %v; want $first", got, err)
		}
	})
}

// TestUncontendedWriteRunsOnCallersGoroutine checks that a write finding
// the writer idle runs on its caller's goroutine (no hand-off to the
// writer goroutine and back), and that writes queued behind a running
// batch are still taken together by the writer goroutine.
func TestUncontendedWriteRunsOnCallersGoroutine(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		onCaller := func() bool {
			buf := make([]byte, 1<<16)
			return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "store.(*DB).Write(")
		}
		var inline bool
		write(t, db, func(*Tx) error { inline = onCaller(); return nil })
		if !inline {
			t.Errorf("uncontended write ran on another goroutine, want the caller's")
		}

		release := blockWriter(t, db)
		const jobs = 5
		results := make(chan bool, jobs)
		for range jobs {
			go func() {
				var inline bool
				if err := db.Write(ctx, func(*Tx) error { inline = onCaller(); return nil }); err != nil {
					t.Error(err)
				}
				results <- inline
			}()
		}
		waitQueued(t, db, jobs)
		batches := db.w.batches.Load()
		release()
		for range jobs {
			if <-results {
				t.Errorf("a write queued behind a running batch ran on its caller's goroutine")
			}
		}
		// The blocking write's batch, then one batch of the queued jobs.
		if got := db.w.batches.Load() - batches; got != 1 {
			t.Errorf("queued writes ran in %d batches, want 1", got)
		}
	})
}

// TestPostgresWriterReconnects checks that a write finding the writer's
// connection closed by the server after the connection sat idle reconnects
// instead of failing, and that a write failing on a lost connection is
// followed by one that reconnects.
func TestPostgresWriterReconnects(t *testing.T) {
	dsn := postgresTestDSN(t)
	db := openTestDB(t, dsn)
	ctx := context.Background()
	terminate := func(pid int64) {
		t.Helper()
		admin := openTestDB(t, dsn)
		var ok bool
		if err := admin.q.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate writer backend %d: %v, %v", pid, ok, err)
		}
		// Wait until the session is gone, so the writer's socket is closed.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			if err := admin.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("writer backend %d still running", pid)
	}
	writerPID := func() int64 {
		t.Helper()
		var pid int64
		write(t, db, func(tx *Tx) error {
			return tx.q.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid)
		})
		return pid
	}

	// Idle long enough (here: at once) to be checked before use.
	db.b.pgWriter.idleCheck = 0
	terminate(writerPID())
	write(t, db, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: userN(0), CreatedTS: 1}) })
	db.b.pgWriter.idleCheck = time.Hour

	// Not checked: the write using the lost connection fails, the next one
	// reconnects.
	terminate(writerPID())
	if err := db.Write(ctx, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: userN(1), CreatedTS: 1}) }); err == nil {
		t.Errorf("write on a connection the server closed succeeded, want an error")
	}
	write(t, db, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: userN(2), CreatedTS: 1}) })
	if _, err := db.User(ctx, userN(2)); err != nil {
		t.Errorf("user written after the writer's connection was lost: %v", err)
	}
}

// TestAdvanceRoomHeadRefusesStaleGeneration checks the fence of a room's
// head on both backends, queued with the rest of a write: a write built on
// a generation that is no longer the room's fails with ErrStale and none of
// its writes commit, alone in its transaction or among other writes.
func TestAdvanceRoomHeadRefusesStaleGeneration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write(t, db, func(tx *Tx) error {
			return tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice, CreatedTS: 1})
		})
		group := emptyStateGroup(t, db)
		persist := func(n int, generation int64) error {
			return db.Write(ctx, func(tx *Tx) error {
				if err := persistMessage(ctx, tx, group, n, fmt.Sprintf("t%d", n)); err != nil {
					return err
				}
				return tx.AdvanceRoomHead(ctx, roomA, generation, group)
			})
		}
		if err := persist(1, 0); err != nil {
			t.Fatalf("write on the current generation: %v", err)
		}
		if err := persist(2, 0); !errors.Is(err, ErrStale) {
			t.Errorf("lone write on a stale generation = %v, want ErrStale", err)
		}

		release := blockWriter(t, db)
		results := make([]chan error, 3)
		for i, gen := range []int64{1, 1, 2} { // the second is stale once the first commits
			results[i] = make(chan error, 1)
			go func() { results[i] <- persist(10+i, gen) }()
			waitQueued(t, db, i+1)
		}
		release()
		for i, want := range []error{nil, ErrStale, nil} {
			if err := <-results[i]; !errors.Is(err, want) {
				t.Errorf("batched write %d = %v, want %v", i, err, want)
			}
		}
		for n, want := range map[int]bool{1: true, 2: false, 10: true, 11: false, 12: true} {
			_, err := db.Event(ctx, testEvent(roomA, n).EventID)
			if got := err == nil; got != want {
				t.Errorf("event %d stored = %v (%v), want %v", n, got, err, want)
			}
		}
		r, err := db.Room(ctx, roomA)
		if err != nil {
			t.Fatal(err)
		}
		if r.Generation != 3 {
			t.Errorf("generation = %d, want 3", r.Generation)
		}
	})
}
