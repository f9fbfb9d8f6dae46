package store

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestConsumerPositions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if pos, ok, err := db.ConsumerPosition(ctx, "fed"); pos != 0 || ok || err != nil {
			t.Fatalf("ConsumerPosition of a new consumer = %d, %v, %v; want 0, false, nil", pos, ok, err)
		}
		steps := []struct {
			set, want int64
		}{{5, 5}, {9, 9}, {7, 9}} // a position never moves back
		for _, st := range steps {
			write(t, db, func(tx *Tx) error { return tx.SetConsumerPosition(ctx, "fed", st.set) })
			if pos, ok, err := db.ConsumerPosition(ctx, "fed"); pos != st.want || !ok || err != nil {
				t.Errorf("after SetConsumerPosition(%d): ConsumerPosition = %d, %v, %v; want %d, true, nil", st.set, pos, ok, err, st.want)
			}
		}
		if _, ok, _ := db.ConsumerPosition(ctx, "push"); ok {
			t.Error("another consumer shares the position")
		}
	})
}

func TestStreamEventsInOrderAcrossRooms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		var want []int64
		for i := range 6 {
			write(t, db, func(tx *Tx) error {
				ev := testEvent(id.RoomID(fmt.Sprintf("!r%d:hafen.test", i%2)), i)
				ev.EventID = id.EventID(fmt.Sprintf("$s%d", i))
				_, pos, err := tx.InsertEvent(ctx, ev)
				want = append(want, pos)
				return err
			})
		}
		cases := []struct {
			name        string
			after, upto int64
			limit       int
			want        []int64
		}{
			{"everything", 0, want[5], 100, want},
			{"a window", want[1], want[4], 100, want[2:5]},
			{"limited", want[0], want[5], 2, want[1:3]},
			{"nothing past upto", want[5], want[5] + 100, 100, nil},
		}
		for _, tc := range cases {
			evs, err := db.StreamEvents(ctx, tc.after, tc.upto, tc.limit)
			var got []int64
			for _, e := range evs {
				got = append(got, e.StreamPos)
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%s: StreamEvents(%d, %d, %d) = %v, %v; want %v", tc.name, tc.after, tc.upto, tc.limit, got, err, tc.want)
			}
		}
	})
}

func TestSyncWindowQueries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		bob := id.UserID("@bob:hafen.test")
		r1, r2, r3 := id.RoomID("!a1:hafen.test"), id.RoomID("!b2:hafen.test"), id.RoomID("!c3:hafen.test")
		member := func(room id.RoomID, n int, user id.UserID, membership string) int64 {
			ev := testEvent(room, n)
			sk := string(user)
			ev.Type, ev.StateKey = "m.room.member", &sk
			nids, pos := insertEvents(t, db, ev)
			write(t, db, func(tx *Tx) error {
				return tx.SetMembership(ctx, Member{RoomID: room, UserID: user, Membership: membership, EventNID: nids[0], StreamPos: pos[0]})
			})
			return pos[0]
		}
		member(r1, 1, bob, "join")
		member(r2, 1, bob, "join")
		member(r3, 1, alice, "join") // a room bob is not in
		r4 := id.RoomID("!d4:hafen.test")
		member(r4, 1, bob, "leave") // a room bob left before the window
		_, before := insertEvents(t, db, testEvent(r1, 2))
		since := before[0]
		kick := member(r1, 3, bob, "leave")
		_, msgs := insertEvents(t, db, testEvent(r1, 4), testEvent(r4, 4), testEvent(r3, 4))
		upto := msgs[2]
		member(r2, 5, bob, "leave") // after upto: outside the window

		rooms, err := db.RoomsWithEventsInRange(ctx, bob, since, upto)
		if err != nil || !slices.Equal(rooms, []id.RoomID{r1}) {
			t.Errorf("RoomsWithEventsInRange(%d, %d) = %v, %v; want [%s]", since, upto, rooms, err, r1)
		}
		evs, err := db.MemberEventsInRange(ctx, r1, bob, since, upto)
		if err != nil || len(evs) != 1 || evs[0].StreamPos != kick {
			t.Errorf("MemberEventsInRange = %v, %v; want the kick at %d", evs, err, kick)
		}
		if evs, err := db.MemberEventsInRange(ctx, r2, bob, since, upto); err != nil || len(evs) != 0 {
			t.Errorf("MemberEventsInRange of a change after the window = %v, %v; want none", evs, err)
		}
	})
}
