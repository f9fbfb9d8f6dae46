package store

import (
	"context"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestBackwardExtremities: a hole is recorded only below a timeline event
// and only while the missing event is not in the timeline; a second
// child lower down moves it down; walks find the holes they reach (a
// hole lies just below its child); a
// failed fetch makes it due at its retry time; storing the event forgets
// it.
func TestBackwardExtremities(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		low, high, outlier, stored := testEvent(roomA, 10), testEvent(roomA, 20), testEvent(roomA, 30), testEvent(roomA, 5)
		outlier.Outlier = true
		_, pos := insertEvents(t, db, low, high, outlier, stored)
		missing := id.EventID("$missing")
		write(t, db, func(tx *Tx) error {
			// From the outlier: nothing (it is not in the timeline).
			if err := tx.AddBackwardExtremities(ctx, outlier.EventID, []id.EventID{missing}, "a.test", 0); err != nil {
				return err
			}
			// From high, then low: one hole, at low. stored is in the
			// timeline: no hole.
			if err := tx.AddBackwardExtremities(ctx, high.EventID, []id.EventID{missing, stored.EventID}, "a.test", 0); err != nil {
				return err
			}
			if err := tx.AddBackwardExtremities(ctx, low.EventID, []id.EventID{missing}, "b.test", 0); err != nil {
				return err
			}
			return tx.AddBackwardExtremities(ctx, high.EventID, []id.EventID{missing}, "a.test", 0)
		})
		holes, err := db.BackwardExtremities(ctx, roomA)
		want := TopoPos{Depth: 10, Stream: pos[0]}
		if err != nil || len(holes) != 1 || holes[0].EventID != missing || holes[0].At != want || holes[0].Origin != "b.test" {
			t.Fatalf("holes = %+v, %v; want %s at %+v from b.test", holes, err, missing, want)
		}
		for _, c := range []struct {
			lo, hi TopoPos
			n      int
		}{
			{TopoPos{}, MaxTopoPos, 1},
			{want.Before().Before(), want, 1},      // a page past low reaches it
			{want.Before(), MaxTopoPos, 0},         // a page ending on low does not yet
			{TopoPos{}, want.Before(), 1},          // the next page, from just below low, does
			{TopoPos{}, want.Before().Before(), 0}, // one from further below does not
		} {
			if got, err := db.BackwardExtremitiesBetween(ctx, roomA, c.lo, c.hi); err != nil || len(got) != c.n {
				t.Errorf("between %+v and %+v: %+v, %v; want %d", c.lo, c.hi, got, err, c.n)
			}
		}
		if due, err := db.BackwardExtremitiesDue(ctx, 1_000, 10); err != nil || len(due) != 0 {
			t.Fatalf("due before any failure: %+v, %v", due, err)
		}
		write(t, db, func(tx *Tx) error { return tx.SetBackwardExtremityRetry(ctx, roomA, []id.EventID{missing}, 1, 2_000) })
		if due, err := db.BackwardExtremitiesDue(ctx, 1_999, 10); err != nil || len(due) != 0 {
			t.Fatalf("due before its time: %+v, %v", due, err)
		}
		if due, err := db.BackwardExtremitiesDue(ctx, 2_000, 10); err != nil || len(due) != 1 || due[0].Failures != 1 {
			t.Fatalf("due at its time: %+v, %v", due, err)
		}
		write(t, db, func(tx *Tx) error { return tx.RemoveBackwardExtremities(ctx, roomA, []id.EventID{missing}) })
		if holes, err := db.BackwardExtremities(ctx, roomA); err != nil || len(holes) != 0 {
			t.Fatalf("holes after the event came: %+v, %v", holes, err)
		}
	})
}
