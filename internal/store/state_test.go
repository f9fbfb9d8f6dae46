package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func storeGroup(t *testing.T, db *DB, room id.RoomID, prev int64, delta map[StateKey]int64) int64 {
	t.Helper()
	var g int64
	write(t, db, func(tx *Tx) error {
		var err error
		g, err = tx.StoreStateGroup(context.Background(), room, prev, delta)
		return err
	})
	return g
}

func deltaDepth(t *testing.T, db *DB, group int64) int64 {
	t.Helper()
	var d int64
	if err := db.q.QueryRowContext(context.Background(),
		`SELECT delta_depth FROM state_groups WHERE group_id = $1`, group).Scan(&d); err != nil {
		t.Fatalf("delta_depth of %d: %v", group, err)
	}
	return d
}

func TestStateGroupsRandomSequence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		const bound = 8
		db.maxStateDelta = bound
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))

		// A tree of groups: each new group extends a random earlier one,
		// as forks in the room DAG do.
		type node struct {
			group int64
			state map[StateKey]int64
		}
		var nodes []node
		first := map[StateKey]int64{{"m.room.create", ""}: 1}
		nodes = append(nodes, node{storeGroup(t, db, roomA, 0, first), first})
		for step := range 300 {
			parent := nodes[rng.IntN(len(nodes))]
			if rng.IntN(3) > 0 {
				parent = nodes[len(nodes)-1] // mostly linear
			}
			delta := map[StateKey]int64{}
			for range 1 + rng.IntN(4) {
				k := StateKey{"m.room.member", fmt.Sprintf("@u%d:hafen.test", rng.IntN(20))}
				if _, ok := parent.state[k]; ok && rng.IntN(4) == 0 {
					delta[k] = 0 // remove
				} else {
					delta[k] = int64(100 + step)
				}
			}
			want := maps.Clone(parent.state)
			for k, nid := range delta {
				if nid == 0 {
					delete(want, k)
				} else {
					want[k] = nid
				}
			}
			g := storeGroup(t, db, roomA, parent.group, delta)
			nodes = append(nodes, node{g, want})
		}
		for i, n := range nodes {
			got, err := db.StateAtGroup(ctx, n.group)
			if err != nil {
				t.Fatalf("StateAtGroup(%d): %v", n.group, err)
			}
			if !maps.Equal(got, n.state) {
				t.Fatalf("node %d: StateAtGroup(%d) = %v, want %v", i, n.group, got, n.state)
			}
			if d := deltaDepth(t, db, n.group); d > bound {
				t.Errorf("group %d: delta chain %d longer than bound %d", n.group, d, bound)
			}
		}
		var snapshots int64
		if err := db.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM state_groups WHERE prev_group IS NULL`).Scan(&snapshots); err != nil {
			t.Fatal(err)
		}
		if snapshots < 2 {
			t.Errorf("snapshots = %d; the sequence should have hit the bound", snapshots)
		}
	})
}

func TestStateGroupLargeRoomWritesOnlyDeltas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		const stateSize, events = 10000, 150
		db.maxStateDelta = 100
		ctx := context.Background()
		full := make(map[StateKey]int64, stateSize)
		for i := range stateSize {
			full[StateKey{"m.room.member", fmt.Sprintf("@u%05d:hafen.test", i)}] = int64(i + 1)
		}
		g := storeGroup(t, db, roomA, 0, full)
		if got := countRows(t, db, "state_group_entries"); got != stateSize {
			t.Fatalf("rows after snapshot = %d, want %d", got, stateSize)
		}
		want := maps.Clone(full)
		snapshots := 0
		var sum int64
		for i := range events {
			k := StateKey{"m.room.member", fmt.Sprintf("@new%d:hafen.test", i)}
			g = storeGroup(t, db, roomA, g, map[StateKey]int64{k: int64(stateSize + 1 + i)})
			want[k] = int64(stateSize + 1 + i)
			var written int64
			if err := db.q.QueryRowContext(ctx,
				`SELECT COUNT(*) FROM state_group_entries WHERE group_id = $1`, g).Scan(&written); err != nil {
				t.Fatal(err)
			}
			sum += written
			if deltaDepth(t, db, g) == 0 {
				// The chain hit its bound: one snapshot of the whole state.
				snapshots++
				if written != int64(len(want)) {
					t.Errorf("event %d: snapshot wrote %d rows, want %d", i, written, len(want))
				}
			} else if written != 1 {
				t.Errorf("event %d: one-key delta wrote %d rows, want 1", i, written)
			}
		}
		// Each call wrote exactly one group: the per-group counts add up to
		// everything written.
		if got := countRows(t, db, "state_group_entries") - stateSize; got != sum {
			t.Errorf("rows written = %d, per-group rows add up to %d", got, sum)
		}
		// 150 events with a bound of 100 take exactly one snapshot.
		if snapshots != 1 {
			t.Errorf("snapshots = %d, want 1", snapshots)
		}
		got, err := db.StateAtGroup(ctx, g)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("StateAtGroup after %d deltas: %d keys, %v; want %d keys", events, len(got), err, len(want))
		}
	})
}

func TestStoreStateGroupEdgeCases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		k := StateKey{"m.room.create", ""}
		g := storeGroup(t, db, roomA, 0, map[StateKey]int64{k: 1, {"m.room.name", ""}: 0})
		if got, _ := db.StateAtGroup(ctx, g); !maps.Equal(got, map[StateKey]int64{k: 1}) {
			t.Errorf("snapshot with a removal = %v, want only the create event", got)
		}
		if got := storeGroup(t, db, roomA, g, nil); got != g {
			t.Errorf("empty delta stored group %d, want the previous group %d", got, g)
		}
		empty := storeGroup(t, db, roomB, 0, nil)
		if got, err := db.StateAtGroup(ctx, empty); err != nil || len(got) != 0 {
			t.Errorf("StateAtGroup(empty snapshot) = %v, %v; want empty", got, err)
		}
		if _, err := db.StateAtGroup(ctx, 424242); !errors.Is(err, ErrNotFound) {
			t.Errorf("StateAtGroup(unknown) = %v, want ErrNotFound", err)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			_, err := tx.StoreStateGroup(ctx, roomB, g, map[StateKey]int64{k: 2})
			return err
		}); err == nil {
			t.Errorf("StoreStateGroup on another room's group: no error")
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			_, err := tx.StoreStateGroup(ctx, roomA, 424242, map[StateKey]int64{k: 2})
			return err
		}); !errors.Is(err, ErrNotFound) {
			t.Errorf("StoreStateGroup on unknown group = %v, want ErrNotFound", err)
		}
		// Inside a transaction, a group stored earlier in it is readable.
		write(t, db, func(tx *Tx) error {
			g2, err := tx.StoreStateGroup(ctx, roomA, g, map[StateKey]int64{{"m.room.name", ""}: 7})
			if err != nil {
				return err
			}
			got, err := tx.StateAtGroup(ctx, g2)
			if err != nil {
				return err
			}
			if len(got) != 2 {
				t.Errorf("Tx.StateAtGroup = %v, want 2 keys", got)
			}
			return nil
		})
	})
}

func TestEventStateCurrentStateMemberships(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		create := testEvent(roomA, 1)
		create.Type, create.StateKey = "m.room.create", strPtr("")
		join := testEvent(roomA, 2)
		join.Type, join.StateKey = "m.room.member", strPtr(string(alice))
		name := testEvent(roomA, 3)
		name.Type, name.StateKey = "m.room.name", strPtr("")
		nids, pos := insertEvents(t, db, create, join, name)
		kCreate, kJoin, kName := StateKey{"m.room.create", ""}, StateKey{"m.room.member", string(alice)}, StateKey{"m.room.name", ""}

		write(t, db, func(tx *Tx) error {
			g1, err := tx.StoreStateGroup(ctx, roomA, 0, map[StateKey]int64{kCreate: nids[0]})
			if err != nil {
				return err
			}
			if err := tx.SetEventState(ctx, nids[1], g1); err != nil {
				return err
			}
			if err := tx.UpdateCurrentState(ctx, roomA, map[StateKey]int64{kCreate: nids[0], kJoin: nids[1], kName: nids[2]}); err != nil {
				return err
			}
			return tx.SetMembership(ctx, Member{RoomID: roomA, UserID: alice, Membership: "join", EventNID: nids[1], StreamPos: pos[1]})
		})
		g, err := db.StateGroupBeforeEvent(ctx, nids[1])
		if err != nil {
			t.Fatalf("StateGroupBeforeEvent: %v", err)
		}
		if got, _ := db.StateAtGroup(ctx, g); !maps.Equal(got, map[StateKey]int64{kCreate: nids[0]}) {
			t.Errorf("state before join = %v", got)
		}
		if _, err := db.StateGroupBeforeEvent(ctx, nids[2]); !errors.Is(err, ErrNotFound) {
			t.Errorf("StateGroupBeforeEvent(no state) = %v, want ErrNotFound", err)
		}
		if m, err := db.StateGroupsBeforeEvents(ctx, []int64{nids[0], nids[1]}); err != nil || len(m) != 1 || m[nids[1]] != g {
			t.Errorf("StateGroupsBeforeEvents = %v, %v", m, err)
		}

		// Remove the name, replace the create (as state resolution may).
		write(t, db, func(tx *Tx) error {
			return tx.UpdateCurrentState(ctx, roomA, map[StateKey]int64{kName: 0, kCreate: nids[2]})
		})
		cur, err := db.CurrentState(ctx, roomA)
		if want := map[StateKey]int64{kCreate: nids[2], kJoin: nids[1]}; err != nil || !maps.Equal(cur, want) {
			t.Errorf("CurrentState = %v, %v; want %v", cur, err, want)
		}
		ev, err := db.CurrentStateEvent(ctx, roomA, "m.room.member", string(alice))
		if err != nil || ev.EventID != join.EventID {
			t.Errorf("CurrentStateEvent(member) = %s, %v", ev.EventID, err)
		}
		if _, err := db.CurrentStateEvent(ctx, roomA, "m.room.name", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("CurrentStateEvent(removed) = %v, want ErrNotFound", err)
		}
		evs, err := db.CurrentStateEvents(ctx, roomA)
		if err != nil || len(evs) != 2 || evs[0].EventID != name.EventID || evs[1].EventID != join.EventID {
			t.Errorf("CurrentStateEvents = %d events, %v", len(evs), err)
		}

		bob := id.UserID("@bob:hafen.test")
		write(t, db, func(tx *Tx) error {
			if err := tx.SetMembership(ctx, Member{RoomID: roomA, UserID: bob, Membership: "invite", EventNID: nids[2], StreamPos: pos[2]}); err != nil {
				return err
			}
			return tx.SetMembership(ctx, Member{RoomID: roomB, UserID: alice, Membership: "join", EventNID: nids[2], StreamPos: pos[2]})
		})
		if rooms, err := db.JoinedRooms(ctx, alice); err != nil || !slices.Equal(rooms, []id.RoomID{roomA, roomB}) {
			t.Errorf("JoinedRooms = %v, %v", rooms, err)
		}
		if users, err := db.JoinedMembers(ctx, roomA); err != nil || !slices.Equal(users, []id.UserID{alice}) {
			t.Errorf("JoinedMembers = %v, %v", users, err)
		}
		if ms, err := db.RoomMembers(ctx, roomA); err != nil || len(ms) != 2 || ms[1].UserID != bob || ms[1].Membership != "invite" {
			t.Errorf("RoomMembers = %+v, %v", ms, err)
		}
		if ms, err := db.UserMemberships(ctx, bob, "invite"); err != nil || len(ms) != 1 || ms[0].RoomID != roomA {
			t.Errorf("UserMemberships(invite) = %+v, %v", ms, err)
		}
		// Bob joins: the row is replaced, not added.
		write(t, db, func(tx *Tx) error {
			return tx.SetMembership(ctx, Member{RoomID: roomA, UserID: bob, Membership: "join", EventNID: nids[2], StreamPos: pos[2] + 1})
		})
		if users, _ := db.JoinedMembers(ctx, roomA); !slices.Equal(users, []id.UserID{alice, bob}) {
			t.Errorf("JoinedMembers after join = %v", users)
		}
		if m, err := db.Membership(ctx, roomA, bob); err != nil || m.Membership != "join" {
			t.Errorf("Membership(bob) = %+v, %v", m, err)
		}
		if ms, err := db.UserMembershipsSince(ctx, alice, pos[1]); err != nil || len(ms) != 1 || ms[0].RoomID != roomB {
			t.Errorf("UserMembershipsSince = %+v, %v", ms, err)
		}
		if _, err := db.Membership(ctx, roomB, bob); !errors.Is(err, ErrNotFound) {
			t.Errorf("Membership(none) = %v, want ErrNotFound", err)
		}
	})
}
