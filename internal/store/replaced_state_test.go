package store

import (
	"context"
	"maps"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestReplacedStateEvents stores three names of a room, one after
// another: the first recorded as replacing nothing, the second without a
// record (as events stored before the record existed, or after a fork),
// the third recorded as replacing the second. ReplacedStateEvents finds
// the recorded ones and looks the unrecorded one up in the state before
// it, leaves out non-state events and events that replaced nothing, lets
// the caller's known replacements take precedence, and leaves them as
// they were.
func TestReplacedStateEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		empty := ""
		name := func(n int) EventRecord {
			return EventRecord{EventID: id.EventID("$name-" + string(rune('0'+n))), RoomID: roomA, Type: "m.room.name", StateKey: &empty,
				Sender: alice, Depth: int64(10 + n), OriginServerTS: int64(1000 + n), JSON: []byte(`{}`)}
		}
		nameKey := StateKey{Type: "m.room.name", StateKey: ""}
		var nids [4]int64
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateRoom(ctx, Room{RoomID: roomA, RoomVersion: "12", Creator: alice, CreatedTS: 1}); err != nil {
				return err
			}
			g0, err := tx.StoreStateGroup(ctx, roomA, 0, map[StateKey]int64{{"m.room.create", ""}: 0})
			if err != nil {
				return err
			}
			if nids[1], _, err = tx.InsertEvent(ctx, name(1)); err != nil {
				return err
			}
			if err := tx.SetEventStateReplacing(ctx, nids[1], g0, 0); err != nil {
				return err
			}
			g1, err := tx.StoreStateGroup(ctx, roomA, g0, map[StateKey]int64{nameKey: nids[1]})
			if err != nil {
				return err
			}
			if nids[2], _, err = tx.InsertEvent(ctx, name(2)); err != nil {
				return err
			}
			if err := tx.SetEventStateOf(ctx, name(2).EventID, g1, ReplacesUnknown); err != nil {
				return err
			}
			g2, err := tx.StoreStateGroup(ctx, roomA, g1, map[StateKey]int64{nameKey: nids[2]})
			if err != nil {
				return err
			}
			if nids[3], _, err = tx.InsertEvent(ctx, name(3)); err != nil {
				return err
			}
			if err := tx.SetEventStateReplacing(ctx, nids[3], g2, nids[2]); err != nil {
				return err
			}
			_, _, err = tx.InsertEvent(ctx, testEvent(roomA, 20))
			return err
		})
		evs, err := db.EventsByID(ctx, []id.EventID{name(1).EventID, name(2).EventID, name(3).EventID, testEvent(roomA, 20).EventID})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.ReplacedStateEvents(ctx, evs, nil)
		if err != nil {
			t.Fatal(err)
		}
		replaced := map[int64]int64{}
		for nid, e := range got {
			replaced[nid] = e.NID
		}
		if want := map[int64]int64{nids[2]: nids[1], nids[3]: nids[2]}; !maps.Equal(replaced, want) {
			t.Errorf("replaced = %v, want %v (name 2 from the state before it, name 3 as recorded)", replaced, want)
		}

		known := map[int64]int64{nids[3]: 0}
		got, err = db.ReplacedStateEvents(ctx, evs, known)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got[nids[3]]; ok || got[nids[2]].NID != nids[1] || len(got) != 1 {
			t.Errorf("with name 3 known to replace nothing: %v, want only name 2 → name 1", got)
		}
		if !maps.Equal(known, map[int64]int64{nids[3]: 0}) {
			t.Errorf("the caller's known replacements changed: %v", known)
		}
	})
}
