package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestSetReceiptsLater checks that a batch of receipts, in several
// statements where the backend limits their parameters, gets the
// positions after the newest stored receipt in the order of the batch,
// that done reports the positions stored, and that a receipt replaces the
// same user's of the same room, type and thread.
func TestSetReceiptsLater(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write := func(rcs []Receipt) []int64 {
			t.Helper()
			var got []int64
			if err := db.Write(ctx, func(tx *Tx) error {
				return tx.SetReceiptsLater(ctx, rcs, func(pos []int64) { got = pos })
			}); err != nil {
				t.Fatalf("SetReceiptsLater: %v", err)
			}
			if len(got) != len(rcs) {
				t.Fatalf("done got %d positions, want %d", len(got), len(rcs))
			}
			return got
		}
		batch := func(n int, ev string) []Receipt {
			rcs := make([]Receipt, n)
			for i := range rcs {
				rcs[i] = Receipt{RoomID: "!r:x", UserID: id.UserID(fmt.Sprintf("@u%d:x", i)), Type: "m.read",
					EventID: id.EventID(ev), TS: int64(1000 + i)}
			}
			return rcs
		}
		first := write(batch(3, "$a"))
		// More rows than one statement holds: three statements.
		n := 2*db.d.maxParams()/7 + 5
		second := write(batch(n, "$b"))
		for i, p := range append(append([]int64{}, first...), second...) {
			if want := first[0] + int64(i); p != want {
				t.Fatalf("position %d = %d, want %d (first %v, second %v)", i, p, want, first, second)
			}
		}
		stored, err := db.ReceiptsSince(ctx, 0, 2*n)
		if err != nil {
			t.Fatal(err)
		}
		// The second batch replaced the first's three receipts.
		if len(stored) != n {
			t.Fatalf("%d receipts stored, want %d", len(stored), n)
		}
		for i, rc := range stored {
			if rc.StreamPos != second[i] || rc.UserID != id.UserID(fmt.Sprintf("@u%d:x", i)) || rc.EventID != "$b" || rc.TS != int64(1000+i) {
				t.Errorf("stored receipt %d = %+v, want position %d for @u%d:x on $b", i, rc, second[i], i)
			}
		}
	})
}
