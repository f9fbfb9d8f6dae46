package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

const roomA, roomB = id.RoomID("!a:hafen.test"), id.RoomID("!b:hafen.test")

func strPtr(s string) *string { return &s }

func testEvent(room id.RoomID, n int) EventRecord {
	eid := id.EventID(fmt.Sprintf("$%s-%d", room[1:2], n))
	return EventRecord{
		EventID: eid, RoomID: room, Type: "m.room.message", Sender: alice,
		Depth: int64(n), OriginServerTS: int64(1000 + n),
		JSON: []byte(fmt.Sprintf(`{"event_id":%q,"n":%d}`, eid, n)),
	}
}

// insertEvents stores evs in one write and returns their NIDs and stream
// positions.
func insertEvents(t *testing.T, db *DB, evs ...EventRecord) (nids, positions []int64) {
	t.Helper()
	write(t, db, func(tx *Tx) error {
		for _, ev := range evs {
			nid, pos, err := tx.InsertEvent(context.Background(), ev)
			if err != nil {
				return err
			}
			nids, positions = append(nids, nid), append(positions, pos)
		}
		return nil
	})
	return nids, positions
}

func TestInsertAndLoadEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		state := testEvent(roomA, 1)
		state.Type, state.StateKey = "m.room.create", strPtr("")
		msg := testEvent(roomA, 2)
		msg.TxnDeviceID, msg.TxnID = "PHONE", "txn1"
		outlier := testEvent(roomA, 3)
		outlier.Outlier = true
		rejected := testEvent(roomA, 4)
		rejected.Rejected = true
		binary := testEvent(roomB, 1)
		binary.JSON = []byte{0x7b, 0x00, 0xff, 0x7d} // the store keeps bytes as given

		nids, pos := insertEvents(t, db, state, msg, outlier, rejected, binary)
		if pos[0] == 0 || pos[1] <= pos[0] || pos[2] != 0 || pos[3] != 0 || pos[4] <= pos[1] {
			t.Errorf("stream positions = %v; want increasing, 0 for outlier and rejected", pos)
		}

		got, err := db.Event(ctx, msg.EventID)
		if err != nil {
			t.Fatalf("Event: %v", err)
		}
		if got.NID != nids[1] || got.StreamPos != pos[1] || got.TxnDeviceID != "PHONE" || got.TxnID != "txn1" ||
			got.StateKey != nil || !bytes.Equal(got.JSON, msg.JSON) || got.Depth != 2 || got.OriginServerTS != 1002 {
			t.Errorf("Event(msg) = %+v", got)
		}
		if got, _ := db.Event(ctx, state.EventID); got.StateKey == nil || *got.StateKey != "" || !got.IsState() {
			t.Errorf("state event's state key = %v, want empty string", got.StateKey)
		}
		if got, _ := db.Event(ctx, binary.EventID); !bytes.Equal(got.JSON, binary.JSON) {
			t.Errorf("binary JSON = %x, want %x", got.JSON, binary.JSON)
		}
		if _, err := db.Event(ctx, "$missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Event(missing) = %v, want ErrNotFound", err)
		}

		// A duplicate reports ErrExists and leaves the transaction usable.
		write(t, db, func(tx *Tx) error {
			if _, _, err := tx.InsertEvent(ctx, msg); !errors.Is(err, ErrExists) {
				t.Errorf("InsertEvent twice = %v, want ErrExists", err)
			}
			_, _, err := tx.InsertEvent(ctx, testEvent(roomA, 5))
			return err
		})

		evs, err := db.EventsByID(ctx, []id.EventID{rejected.EventID, "$missing", state.EventID, state.EventID})
		if err != nil || len(evs) != 2 || evs[0].EventID != rejected.EventID || evs[1].EventID != state.EventID || !evs[0].Rejected {
			t.Errorf("EventsByID = %+v, %v", evs, err)
		}
		byNID, err := db.EventsByNID(ctx, []int64{nids[2], 999999, nids[0]})
		if err != nil || len(byNID) != 2 || byNID[0].EventID != outlier.EventID || !byNID[0].Outlier {
			t.Errorf("EventsByNID = %+v, %v", byNID, err)
		}
		m, err := db.EventNIDs(ctx, []id.EventID{msg.EventID, "$missing"})
		if err != nil || len(m) != 1 || m[msg.EventID] != nids[1] {
			t.Errorf("EventNIDs = %v, %v", m, err)
		}

		write(t, db, func(tx *Tx) error { return tx.SetRedactedBecause(ctx, msg.EventID, "$redaction") })
		if got, _ := db.Event(ctx, msg.EventID); got.RedactedBecause != "$redaction" {
			t.Errorf("RedactedBecause = %q", got.RedactedBecause)
		}

		var promoted int64
		write(t, db, func(tx *Tx) error {
			var err error
			promoted, err = tx.PromoteOutlier(ctx, outlier.EventID)
			return err
		})
		if max, _ := db.MaxStreamPos(ctx); promoted != max {
			t.Errorf("promoted outlier position = %d, want the newest %d", promoted, max)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			_, err := tx.PromoteOutlier(ctx, rejected.EventID)
			return err
		}); !errors.Is(err, ErrNotFound) {
			t.Errorf("PromoteOutlier(rejected) = %v, want ErrNotFound", err)
		}
	})
}

func TestEventsByIDManyIDs(t *testing.T) {
	// More IDs than one list parameter takes: the query is split.
	forEachBackend(t, func(t *testing.T, db *DB) {
		n := 2*db.d.maxParams() + 7
		var evs []EventRecord
		var ids []id.EventID
		for i := range n {
			evs = append(evs, testEvent(roomA, i))
			ids = append(ids, evs[i].EventID)
		}
		insertEvents(t, db, evs...)
		got, err := db.EventsByID(context.Background(), ids)
		if err != nil || len(got) != n {
			t.Fatalf("EventsByID(%d ids) = %d events, %v", n, len(got), err)
		}
		for i := range got {
			if got[i].EventID != ids[i] {
				t.Fatalf("EventsByID[%d] = %s, want %s", i, got[i].EventID, ids[i])
			}
		}
	})
}

func TestRoomEventsRangeAndEventsSince(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		// Interleave two rooms: A1 B1 A2 B2 … A5 B5.
		var evs []EventRecord
		for i := 1; i <= 5; i++ {
			evs = append(evs, testEvent(roomA, i), testEvent(roomB, i))
		}
		_, pos := insertEvents(t, db, evs...)
		posA := []int64{pos[0], pos[2], pos[4], pos[6], pos[8]}

		numbers := func(evs []Event) []int64 {
			out := make([]int64, len(evs))
			for i, e := range evs {
				out[i] = e.Depth
			}
			return out
		}
		tests := []struct {
			name     string
			from, to int64
			dir      Direction
			limit    int
			want     []int64 // depths of room A's events
		}{
			{"forward from start to end", 0, math.MaxInt64, Forward, 10, []int64{1, 2, 3, 4, 5}},
			{"forward limited", 0, math.MaxInt64, Forward, 2, []int64{1, 2}},
			{"forward from after A2 excludes A2", posA[1], math.MaxInt64, Forward, 10, []int64{3, 4, 5}},
			{"forward up to A4 includes A4", posA[1], posA[3], Forward, 10, []int64{3, 4}},
			{"backward from end", math.MaxInt64, 0, Backward, 10, []int64{5, 4, 3, 2, 1}},
			{"backward from A4 includes A4", posA[3], 0, Backward, 2, []int64{4, 3}},
			{"backward down to A2 excludes A2", posA[3], posA[1], Backward, 10, []int64{4, 3}},
		}
		for _, tc := range tests {
			got, err := db.RoomEventsRange(ctx, roomA, tc.from, tc.to, tc.dir, tc.limit)
			if err != nil || !slices.Equal(numbers(got), tc.want) {
				t.Errorf("%s: RoomEventsRange = %v, %v; want %v", tc.name, numbers(got), err, tc.want)
			}
			for _, e := range got {
				if e.RoomID != roomA {
					t.Errorf("%s: event of room %s", tc.name, e.RoomID)
				}
			}
		}
		if _, err := db.RoomEventsRange(ctx, roomA, 0, 1, Direction(0), 1); err == nil {
			t.Errorf("RoomEventsRange with invalid direction: no error")
		}

		since, err := db.EventsSince(ctx, pos[3], 4)
		if err != nil || len(since) != 4 {
			t.Fatalf("EventsSince = %d events, %v", len(since), err)
		}
		for i, e := range since {
			if e.StreamPos != pos[4+i] {
				t.Errorf("EventsSince[%d] at %d, want %d", i, e.StreamPos, pos[4+i])
			}
		}
	})
}
