package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// insertTestEvent stores a timeline event and returns its NID and stream
// position.
func insertTestEvent(t *testing.T, db *DB, roomID id.RoomID, n int, typ string, stateKey *string) (int64, int64) {
	t.Helper()
	var nid, pos int64
	write(t, db, func(tx *Tx) error {
		var err error
		nid, pos, err = tx.InsertEvent(context.Background(), EventRecord{
			EventID: id.EventID(fmt.Sprintf("$e%d_%s:reads.test", n, roomID[1:2])), RoomID: roomID, Type: typ, StateKey: stateKey,
			Sender: "@a:reads.test", Depth: int64(n), OriginServerTS: int64(n), JSON: []byte(`{}`),
		})
		return err
	})
	return nid, pos
}

func TestStateKeysAtGroup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		db.maxStateDelta = 2 // so that the chain holds snapshots and deltas
		ctx := context.Background()
		const room = id.RoomID("!r:reads.test")
		hv := StateKey{Type: "m.room.history_visibility"}
		alice := StateKey{Type: "m.room.member", StateKey: "@alice:reads.test"}
		bob := StateKey{Type: "m.room.member", StateKey: "@bob:reads.test"}
		name := StateKey{Type: "m.room.name"}
		g1 := storeGroup(t, db, room, 0, map[StateKey]int64{hv: 1, alice: 2, name: 3})
		g2 := storeGroup(t, db, room, g1, map[StateKey]int64{hv: 4})
		g3 := storeGroup(t, db, room, g2, map[StateKey]int64{alice: 0, bob: 5})
		g4 := storeGroup(t, db, room, g3, map[StateKey]int64{alice: 6}) // past the bound: a snapshot
		tests := []struct {
			group int64
			keys  []StateKey
			want  map[StateKey]int64
		}{
			{g1, []StateKey{hv, alice}, map[StateKey]int64{hv: 1, alice: 2}},
			{g2, []StateKey{hv, alice, bob}, map[StateKey]int64{hv: 4, alice: 2}},
			{g3, []StateKey{hv, alice, bob}, map[StateKey]int64{hv: 4, bob: 5}},
			{g4, []StateKey{alice, bob, name}, map[StateKey]int64{alice: 6, bob: 5, name: 3}},
			{g4, nil, map[StateKey]int64{}},
		}
		for _, tc := range tests {
			got, err := db.StateKeysAtGroup(ctx, tc.group, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("StateKeysAtGroup(%d, %v) = %v, want %v", tc.group, tc.keys, got, tc.want)
			}
			full, err := db.StateAtGroup(ctx, tc.group)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.keys {
				if got[k] != full[k] {
					t.Errorf("group %d key %v: %d, StateAtGroup says %d", tc.group, k, got[k], full[k])
				}
			}
		}
	})
}

func TestClientReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const room, other = id.RoomID("!r:reads.test"), id.RoomID("!o:reads.test")
		empty, alice := "", "@alice:reads.test"
		createNID, _ := insertTestEvent(t, db, room, 1, "m.room.create", &empty)
		memberNID, _ := insertTestEvent(t, db, room, 2, "m.room.member", &alice)
		_, msgPos := insertTestEvent(t, db, room, 3, "m.room.message", nil)
		insertTestEvent(t, db, other, 4, "m.room.redaction", nil)
		insertTestEvent(t, db, room, 5, "m.room.redaction", nil)
		write(t, db, func(tx *Tx) error {
			return tx.UpdateCurrentState(ctx, room, map[StateKey]int64{
				{Type: "m.room.create"}: createNID, {Type: "m.room.member", StateKey: alice}: memberNID,
			})
		})

		members, err := db.CurrentStateEventsOfType(ctx, room, "m.room.member")
		if err != nil || len(members) != 1 || members[0].NID != memberNID {
			t.Errorf("CurrentStateEventsOfType(member) = %v, %v; want the one member event", members, err)
		}
		e, err := db.LastRoomEventAt(ctx, room, msgPos+1) // the next position is the other room's
		if err != nil || e.StreamPos != msgPos {
			t.Errorf("LastRoomEventAt(%d) = %d, %v; want %d", msgPos+1, e.StreamPos, err, msgPos)
		}
		if _, err := db.LastRoomEventAt(ctx, room, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("LastRoomEventAt(0) error = %v, want ErrNotFound", err)
		}
	})
}
