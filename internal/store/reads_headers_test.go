package store

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestHeadersMatchState checks the one-query state reads against
// StateAtGroup and the recorded replaced events, on random delta chains
// with removals and snapshots.
func TestHeadersMatchState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		db.maxStateDelta = 4 // snapshots along the chain too
		ctx := context.Background()
		var evs []EventRecord
		for i := range 40 {
			e := testEvent(roomA, i+1)
			e.Type, e.StateKey = fmt.Sprintf("t%d", i%3), strPtr(fmt.Sprintf("k%d", i%5))
			evs = append(evs, e)
		}
		nids, _ := insertEvents(t, db, evs...)
		rng := rand.New(rand.NewPCG(7, 9))
		var groups []int64
		prev := int64(0)
		for range 20 {
			delta := map[StateKey]int64{}
			for range 1 + rng.IntN(3) {
				i := rng.IntN(len(evs))
				k := StateKey{evs[i].Type, *evs[i].StateKey}
				if prev != 0 && rng.IntN(4) == 0 {
					delta[k] = 0 // removal
				} else {
					delta[k] = nids[i]
				}
			}
			prev = storeGroup(t, db, roomA, prev, delta)
			groups = append(groups, prev)
		}
		write(t, db, func(tx *Tx) error {
			for i, nid := range nids[:10] {
				if err := tx.SetEventStateReplacing(ctx, nid, groups[0], int64(i)); err != nil {
					return err
				}
			}
			return nil
		})
		for _, g := range groups {
			want, err := db.StateAtGroup(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{"", "t1"} {
				h, err := db.StateHeadersAtGroup(ctx, g, typ)
				if err != nil {
					t.Fatalf("StateHeadersAtGroup(%d, %q): %v", g, typ, err)
				}
				got := map[StateKey]int64{}
				for _, e := range h.Events {
					if e.JSON != nil {
						t.Errorf("header of %s has JSON", e.EventID)
					}
					got[StateKey{e.Type, *e.StateKey}] = e.NID
					if rep, ok := h.Replaces[e.NID]; ok != (e.NID <= nids[9]) || ok && rep != e.NID-nids[0] {
						t.Errorf("replaces of %d = %d, %v", e.NID, rep, ok)
					}
				}
				wantTyp := maps.Clone(want)
				maps.DeleteFunc(wantTyp, func(k StateKey, _ int64) bool { return typ != "" && k.Type != typ })
				if !maps.Equal(got, wantTyp) {
					t.Errorf("StateHeadersAtGroup(%d, %q) = %v, want %v", g, typ, got, wantTyp)
				}
			}
		}
		rep, err := db.StateReplaces(ctx, nids)
		if err != nil || len(rep) != 10 || rep[nids[3]] != 3 {
			t.Errorf("StateReplaces = %v, %v; want the 10 recorded", rep, err)
		}
	})
}
