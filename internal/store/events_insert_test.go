package store

import (
	"context"
	"errors"
	"testing"
)

// TestInsertEventsStoresInStreamOrder checks that InsertEvents stores a
// batch of events with stream positions increasing in the batch's order,
// none for outliers, rejected and soft-failed events, with the NIDs and
// positions it returns, and that an event stored already, or named twice
// in one call, fails the write with ErrExists.
func TestInsertEventsStoresInStreamOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write(t, db, func(tx *Tx) error { _, err := tx.InsertEvents(ctx, []EventRecord{testEvent(roomA, 1)}); return err })

		var recs []EventRecord
		for n := 2; n <= 9; n++ {
			ev := testEvent(roomA, n)
			switch n {
			case 4:
				ev.Outlier = true
			case 6:
				ev.Rejected = true
			case 7:
				ev.SoftFailed = true
			}
			recs = append(recs, ev)
		}
		var got []InsertedEvent
		write(t, db, func(tx *Tx) error {
			var err error
			got, err = tx.InsertEvents(ctx, recs)
			return err
		})
		if len(got) != len(recs) {
			t.Fatalf("InsertEvents returned %d results for %d events", len(got), len(recs))
		}
		var last int64
		for i, rec := range recs {
			stored, err := db.Event(ctx, rec.EventID)
			if err != nil {
				t.Fatalf("Event(%s): %v", rec.EventID, err)
			}
			if stored.NID != got[i].NID || stored.StreamPos != got[i].StreamPos {
				t.Errorf("%s stored as NID %d position %d, InsertEvents said %d, %d",
					rec.EventID, stored.NID, stored.StreamPos, got[i].NID, got[i].StreamPos)
			}
			if string(stored.JSON) != string(rec.JSON) {
				t.Errorf("%s stored JSON %s, want %s", rec.EventID, stored.JSON, rec.JSON)
			}
			hidden := rec.Outlier || rec.Rejected || rec.SoftFailed
			switch {
			case hidden && got[i].StreamPos != 0:
				t.Errorf("%s (outlier, rejected or soft-failed) got stream position %d", rec.EventID, got[i].StreamPos)
			case !hidden && got[i].StreamPos <= last:
				t.Errorf("%s got stream position %d after %d: not in the batch's order", rec.EventID, got[i].StreamPos, last)
			case !hidden:
				last = got[i].StreamPos
			}
		}
		evs, err := db.StreamEvents(ctx, 0, last, 100)
		if err != nil {
			t.Fatalf("StreamEvents: %v", err)
		}
		var order []string
		for _, ev := range evs {
			order = append(order, string(ev.EventID))
		}
		var want []string
		for _, n := range []int{1, 2, 3, 5, 8, 9} {
			want = append(want, string(testEvent(roomA, n).EventID))
		}
		if len(order) != len(want) {
			t.Fatalf("stream holds %v, want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("stream holds %v, want %v", order, want)
			}
		}

		for name, batch := range map[string][]EventRecord{
			"stored already":     {testEvent(roomA, 20), testEvent(roomA, 3), testEvent(roomA, 21)},
			"twice in one batch": {testEvent(roomA, 22), testEvent(roomA, 23), testEvent(roomA, 22)},
		} {
			err := db.Write(ctx, func(tx *Tx) error { _, err := tx.InsertEvents(ctx, batch); return err })
			if !errors.Is(err, ErrExists) {
				t.Errorf("%s: InsertEvents = %v, want ErrExists", name, err)
			}
			for _, rec := range batch[:1] {
				if _, err := db.Event(ctx, rec.EventID); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: %s of the failed write: %v, want ErrNotFound", name, rec.EventID, err)
				}
			}
		}
	})
}

// TestInsertEventsIsOneRoundTripOnPostgres checks that a batch of events
// reaches PostgreSQL in one statement: persisting five messages, with what
// refers to them and the room's fence, takes two round trips (BEGIN with
// the insert that returns the events' NIDs and positions; the rest with
// the COMMIT), as one message does, instead of one more per event.
func TestInsertEventsIsOneRoundTripOnPostgres(t *testing.T) {
	db := openTestDB(t, postgresTestDSN(t))
	ctx := context.Background()
	group := emptyStateGroup(t, db)
	trips := &db.b.pgWriter.roundTrips
	write(t, db, func(tx *Tx) error {
		return tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice, CreatedTS: 1})
	})
	before := trips.Load()
	write(t, db, func(tx *Tx) error {
		var recs []EventRecord
		for n := 1; n <= 5; n++ {
			recs = append(recs, testEvent(roomA, n))
		}
		inserted, err := tx.InsertEvents(ctx, recs)
		if err != nil {
			return err
		}
		for i, ins := range inserted {
			if err := tx.SetEventState(ctx, ins.NID, group); err != nil {
				return err
			}
			k := TxnKey{UserID: alice, DeviceID: "DEV", Scope: "send", TxnID: string(recs[i].EventID)}
			if err := tx.AddTxnID(ctx, k, recs[i].EventID, recs[i].OriginServerTS); err != nil {
				return err
			}
		}
		return tx.AdvanceRoomHead(ctx, roomA, 0, group)
	})
	if got := trips.Load() - before; got != 2 {
		t.Errorf("round trips of five messages with the head's fence = %d, want 2", got)
	}
}

// TestInsertEventsLaterTravelsWithTheCommit checks that on PostgreSQL a
// write of messages inserted with InsertEventsLater, their state named by
// event ID, their transaction IDs and the room's fence takes one round
// trip (everything with the COMMIT), and that the NIDs and positions it
// reports, before the commit is announced, are the stored ones.
func TestInsertEventsLaterTravelsWithTheCommit(t *testing.T) {
	db := openTestDB(t, postgresTestDSN(t))
	ctx := context.Background()
	group := emptyStateGroup(t, db)
	trips := &db.b.pgWriter.roundTrips
	write(t, db, func(tx *Tx) error {
		return tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice, CreatedTS: 1})
	})
	for _, n := range []int{1, 3} {
		var recs []EventRecord
		for i := range n {
			recs = append(recs, testEvent(roomA, 10*n+i))
		}
		var got, atCommit []InsertedEvent
		before := trips.Load()
		write(t, db, func(tx *Tx) error {
			err := tx.InsertEventsLater(ctx, recs, func(ins []InsertedEvent) { got = ins })
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if err := tx.SetEventStateOf(ctx, rec.EventID, group, ReplacesUnknown); err != nil {
					return err
				}
				k := TxnKey{UserID: alice, DeviceID: "DEV", Scope: "send", TxnID: string(rec.EventID)}
				if err := tx.AddTxnID(ctx, k, rec.EventID, rec.OriginServerTS); err != nil {
					return err
				}
			}
			tx.AfterCommit(func() { atCommit = got })
			gen := int64(0)
			if n > 1 {
				gen = 1
			}
			return tx.AdvanceRoomHead(ctx, roomA, gen, group)
		})
		if trips := trips.Load() - before; trips != 1 {
			t.Errorf("%d messages: round trips = %d, want 1", n, trips)
		}
		checkInserted(t, db, recs, atCommit, group)
	}
}

// TestInsertEventsLaterStoredEventFailsTheWrite checks that an event
// stored already fails the write function that InsertEventsLater queued
// it in with ErrExists and rolls back its writes, alone in its
// transaction and inside a batch whose other writes commit, and that
// otherwise the reported NIDs and positions are the stored ones.
func TestInsertEventsLaterStoredEventFailsTheWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		group := emptyStateGroup(t, db)
		insert := func(tx *Tx, recs []EventRecord, got *[]InsertedEvent) error {
			err := tx.InsertEventsLater(ctx, recs, func(ins []InsertedEvent) { *got = ins })
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if err := tx.SetEventStateOf(ctx, rec.EventID, group, ReplacesUnknown); err != nil {
					return err
				}
			}
			return nil
		}
		var first []InsertedEvent
		write(t, db, func(tx *Tx) error { return insert(tx, []EventRecord{testEvent(roomA, 1)}, &first) })
		checkInserted(t, db, []EventRecord{testEvent(roomA, 1)}, first, group)

		var ignored []InsertedEvent
		dup := []EventRecord{testEvent(roomA, 2), testEvent(roomA, 1)}
		err := db.Write(ctx, func(tx *Tx) error { return insert(tx, dup, &ignored) })
		if !errors.Is(err, ErrExists) {
			t.Errorf("lone write of a stored event = %v, want ErrExists", err)
		}
		if _, err := db.Event(ctx, testEvent(roomA, 2).EventID); !errors.Is(err, ErrNotFound) {
			t.Errorf("event of the failed lone write: %v, want ErrNotFound", err)
		}

		release := blockWriter(t, db)
		batches := [][]EventRecord{{testEvent(roomA, 3)}, {testEvent(roomA, 4), testEvent(roomA, 1)}, {testEvent(roomA, 5), testEvent(roomA, 6)}}
		got := make([][]InsertedEvent, len(batches))
		results := make([]chan error, len(batches))
		for i, recs := range batches {
			results[i] = make(chan error, 1)
			go func() { results[i] <- db.Write(ctx, func(tx *Tx) error { return insert(tx, recs, &got[i]) }) }()
			waitQueued(t, db, i+1)
		}
		release()
		for i, ch := range results {
			err := <-ch
			if i == 1 {
				if !errors.Is(err, ErrExists) {
					t.Errorf("batched write of a stored event = %v, want ErrExists", err)
				}
				if _, err := db.Event(ctx, testEvent(roomA, 4).EventID); !errors.Is(err, ErrNotFound) {
					t.Errorf("event of the failed batched write: %v, want ErrNotFound", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("batched write %d: %v", i, err)
				continue
			}
			checkInserted(t, db, batches[i], got[i], group)
		}
	})
}

// checkInserted checks that got holds the stored NIDs and positions of
// recs, in increasing stream order, and that their state group is group.
func checkInserted(t *testing.T, db *DB, recs []EventRecord, got []InsertedEvent, group int64) {
	t.Helper()
	ctx := context.Background()
	if len(got) != len(recs) {
		t.Fatalf("reported %d inserted events for %d", len(got), len(recs))
	}
	var last int64
	for i, rec := range recs {
		stored, err := db.Event(ctx, rec.EventID)
		if err != nil {
			t.Fatalf("Event(%s): %v", rec.EventID, err)
		}
		if stored.NID != got[i].NID || stored.StreamPos != got[i].StreamPos || got[i].StreamPos <= last {
			t.Errorf("%s stored as NID %d position %d, reported %d, %d (after position %d)",
				rec.EventID, stored.NID, stored.StreamPos, got[i].NID, got[i].StreamPos, last)
		}
		last = got[i].StreamPos
		if g, err := db.StateGroupBeforeEvent(ctx, stored.NID); err != nil || g != group {
			t.Errorf("state group before %s = %d, %v; want %d", rec.EventID, g, err, group)
		}
	}
}
