package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestStreamPositionsUnderConcurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const writers, perWriter = 16, 40
		positions := make([][]int64, writers)
		var wg sync.WaitGroup
		var failed sync.Map
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				room := id.RoomID(fmt.Sprintf("!r%d:hafen.test", w))
				for i := range perWriter {
					var pos int64
					err := db.Write(ctx, func(tx *Tx) error {
						ev := testEvent(room, i)
						ev.EventID = id.EventID(fmt.Sprintf("$w%d-%d", w, i))
						var err error
						if _, pos, err = tx.InsertEvent(ctx, ev); err != nil {
							return err
						}
						if i%10 == 9 {
							// A rolled-back job takes its position with it.
							return errJobFailed
						}
						return nil
					})
					if errors.Is(err, errJobFailed) {
						failed.Store(pos, true)
						continue
					}
					if err != nil {
						t.Errorf("writer %d event %d: %v", w, i, err)
						return
					}
					positions[w] = append(positions[w], pos)
				}
			}()
		}
		wg.Wait()

		var all []int64
		for w, ps := range positions {
			if !slices.IsSorted(ps) || len(slices.Compact(slices.Clone(ps))) != len(ps) {
				t.Errorf("writer %d: positions not strictly increasing: %v", w, ps)
			}
			all = append(all, ps...)
		}
		slices.Sort(all)
		for i := 1; i < len(all); i++ {
			if all[i] == all[i-1] {
				t.Fatalf("position %d handed out twice", all[i])
			}
		}
		max, err := db.MaxStreamPos(ctx)
		if err != nil || max != all[len(all)-1] {
			t.Errorf("MaxStreamPos = %d, %v; want %d", max, err, all[len(all)-1])
		}
		if db.d.name() == "sqlite" {
			// The single writer allocates MAX+1: committed positions are
			// exactly 1…n.
			for i, p := range all {
				if p != int64(i+1) {
					t.Fatalf("positions have a gap: [%d] = %d, want %d", i, p, i+1)
				}
			}
		}
		events, err := db.EventsSince(ctx, 0, len(all)+10)
		if err != nil || len(events) != len(all) {
			t.Fatalf("EventsSince(0) = %d events, %v; want %d", len(events), err, len(all))
		}
		for i, e := range events {
			if e.StreamPos != all[i] {
				t.Fatalf("EventsSince[%d] at %d, want %d", i, e.StreamPos, all[i])
			}
		}
	})
}
