package store

import (
	"context"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestInsertOutliers: outliers go in with multi-row inserts; events
// stored already keep their rows and NIDs; an event named twice is stored
// once; a record that is not an outlier is refused.
func TestInsertOutliers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		old := testEvent(roomA, 1)
		nids, _ := insertEvents(t, db, old)
		var recs []EventRecord
		for i := range 250 {
			e := testEvent(roomA, 100+i)
			e.Outlier = true
			recs = append(recs, e)
		}
		recs = append(recs, recs[3])
		again := old
		again.Outlier = true
		recs = append(recs, again)
		var got map[id.EventID]int64
		write(t, db, func(tx *Tx) error {
			var err error
			got, err = tx.InsertOutliers(ctx, recs)
			return err
		})
		if len(got) != 251 || got[old.EventID] != nids[0] {
			t.Fatalf("%d NIDs, old event's %d; want 251 and %d", len(got), got[old.EventID], nids[0])
		}
		stored, err := db.EventsByID(ctx, []id.EventID{recs[0].EventID, recs[249].EventID, old.EventID})
		if err != nil || len(stored) != 3 || !stored[0].Outlier || stored[0].NID != got[recs[0].EventID] || stored[2].Outlier || stored[2].StreamPos == 0 {
			t.Fatalf("stored %+v, %v", stored, err)
		}
		err = db.Write(ctx, func(tx *Tx) error {
			_, err := tx.InsertOutliers(ctx, []EventRecord{testEvent(roomA, 999)})
			return err
		})
		if err == nil {
			t.Error("a timeline event was taken as an outlier")
		}
	})
}
