package store

import (
	"context"
	"slices"
	"testing"
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

// TestIndexEventTextOf checks, on every backend, that indexing an event's
// text again keeps one entry (the search index's consumer may index a
// batch twice after a crash), and that an event redacted before it is
// indexed, or without a stream position, is not indexed.
func TestIndexEventTextOf(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		kept, redacted := testEvent(roomA, 1), testEvent(roomA, 2)
		insertEvents(t, db, kept, redacted)
		write(t, db, func(tx *Tx) error { return tx.SetRedactedBecause(ctx, redacted.EventID, "$redaction") })
		for range 2 {
			write(t, db, func(tx *Tx) error {
				if err := tx.IndexEventTextOf(ctx, kept.EventID, "kept words"); err != nil {
					return err
				}
				if err := tx.IndexEventTextOf(ctx, redacted.EventID, "redacted words"); err != nil {
					return err
				}
				return tx.IndexEventTextOf(ctx, "$unknown", "unknown words")
			})
		}
		var n int
		if err := db.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM event_search`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("event_search holds %d entries, want 1 (the kept event's)", n)
		}
	})
}
