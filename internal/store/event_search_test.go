package store

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestSearchTerms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Quick brown FOX", []string{"quick", "brown", "fox"}},
		{`"fox" AND (dog*) OR -cat: NEAR/2`, []string{"fox", "and", "dog", "or", "cat", "near", "2"}},
		{"fox fox Fox", []string{"fox"}},
		{"Grüße, 世界!", []string{"grüße", "世界"}},
		{"  ' \" * : ", nil},
		{"a b c d e f g h i j k l m n o p q r s", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"}},
	} {
		if got := SearchTerms(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SearchTerms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestIndexEventTexts checks, on every backend, that indexing an event's
// text again keeps one entry (the search index's consumer may index a
// batch twice after a crash, and a batch may name an event twice), and
// that an event redacted before it is indexed, or without a stream
// position, is not indexed: first with every text in one call, then
// with a call per text.
func TestIndexEventTexts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		kept, redacted := testEvent(roomA, 1), testEvent(roomA, 2)
		insertEvents(t, db, kept, redacted)
		write(t, db, func(tx *Tx) error { return tx.SetRedactedBecause(ctx, redacted.EventID, "$redaction") })
		texts := []SearchText{
			{EventID: kept.EventID, Text: "kept words"},
			{EventID: redacted.EventID, Text: "redacted words"},
			{EventID: "$unknown", Text: "unknown words"},
			{EventID: kept.EventID, Text: "kept words"},
		}
		write(t, db.Derived(), func(tx *Tx) error { return tx.IndexEventTexts(ctx, texts) })
		write(t, db.Derived(), func(tx *Tx) error {
			for _, st := range texts {
				if err := tx.IndexEventTexts(ctx, []SearchText{st}); err != nil {
					return err
				}
			}
			return nil
		})
		var n int
		if err := db.Derived().q.QueryRowContext(ctx, `SELECT COUNT(*) FROM event_search`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("event_search holds %d entries, want 1 (the kept event's)", n)
		}
		hits, err := db.Derived().SearchEvents(ctx, SearchQuery{Terms: []string{"words"}, Rooms: []id.RoomID{roomA},
			Types: []string{"m.room.message"}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].EventID != kept.EventID {
			t.Errorf("search finds %v, want only %s", hits, kept.EventID)
		}
	})
}

// TestIndexEventTextsManyStatements checks that a batch of texts larger
// than one statement's parameters allow is indexed whole.
func TestIndexEventTextsManyStatements(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		n := db.d.maxParams()/2 + 3
		evs := make([]EventRecord, n)
		for i := range evs {
			evs[i] = testEvent(roomA, i+1)
		}
		insertEvents(t, db, evs...)
		texts := make([]SearchText, n)
		for i, ev := range evs {
			texts[i] = SearchText{EventID: ev.EventID, Text: "word" + strconv.Itoa(i)}
		}
		write(t, db.Derived(), func(tx *Tx) error { return tx.IndexEventTexts(ctx, texts) })
		var got int
		if err := db.Derived().q.QueryRowContext(ctx, `SELECT COUNT(*) FROM event_search`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("event_search holds %d entries, want %d", got, n)
		}
	})
}

// TestSearchRemovals checks, on every backend, the queue of entries to
// remove from the search index: a queued event is listed once however
// often it is queued, its removal takes it out of the index, and
// deleting the carried-out removals empties the queue.
func TestSearchRemovals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		gone, kept := testEvent(roomA, 1), testEvent(roomA, 2)
		nids, _ := insertEvents(t, db, gone, kept)
		write(t, db.Derived(), func(tx *Tx) error {
			if err := tx.IndexEventTexts(ctx, []SearchText{{EventID: gone.EventID, Text: "gone words"}}); err != nil {
				return err
			}
			return tx.IndexEventTexts(ctx, []SearchText{{EventID: kept.EventID, Text: "kept words"}})
		})
		for range 2 {
			write(t, db, func(tx *Tx) error { return tx.QueueSearchRemoval(ctx, nids[0]) })
		}
		queued, err := db.SearchRemovals(ctx, 10)
		if err != nil || !slices.Equal(queued, nids[:1]) {
			t.Fatalf("SearchRemovals = %v, %v; want [%d]", queued, err, nids[0])
		}
		write(t, db.Derived(), func(tx *Tx) error { return tx.RemoveFromSearchIndex(ctx, queued) })
		hits, err := db.Derived().SearchEvents(ctx, SearchQuery{Terms: []string{"words"}, Rooms: []id.RoomID{roomA},
			Types: []string{"m.room.message"}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].EventID != kept.EventID {
			t.Errorf("search after the removal finds %v, want only %s", hits, kept.EventID)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteSearchRemovals(ctx, queued) })
		if queued, err := db.SearchRemovals(ctx, 10); err != nil || len(queued) != 0 {
			t.Errorf("SearchRemovals after the delete = %v, %v; want none", queued, err)
		}
	})
}
