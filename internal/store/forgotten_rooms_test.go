package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// setTestMembership stores a member event of user in roomID and makes it
// the user's current membership.
func setTestMembership(t *testing.T, db *DB, roomID id.RoomID, user id.UserID, membership string, n int) {
	t.Helper()
	sk := string(user)
	write(t, db, func(tx *Tx) error {
		ctx := context.Background()
		nid, pos, err := tx.InsertEvent(ctx, EventRecord{
			EventID: id.EventID(fmt.Sprintf("$m%d_%s:forget.test", n, roomID[1:2])), RoomID: roomID,
			Type: "m.room.member", StateKey: &sk, Sender: user, Depth: int64(n), OriginServerTS: int64(n),
			JSON: []byte(`{}`),
		})
		if err != nil {
			return err
		}
		return tx.SetMembership(ctx, Member{RoomID: roomID, UserID: user, Membership: membership, EventNID: nid, StreamPos: pos})
	})
}

func forgotten(t *testing.T, db *DB, user id.UserID) []id.RoomID {
	t.Helper()
	rooms, err := db.ForgottenRooms(context.Background(), user)
	if err != nil {
		t.Fatalf("ForgottenRooms(%s): %v", user, err)
	}
	return rooms
}

func TestForgetRoom(t *testing.T) {
	const bob = id.UserID("@bob:hafen.test")
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		forget := func(user id.UserID, roomID id.RoomID) error {
			return db.Write(ctx, func(tx *Tx) error { return tx.ForgetRoom(ctx, user, roomID) })
		}
		setTestMembership(t, db, roomA, alice, "join", 1)
		setTestMembership(t, db, roomA, alice, "leave", 2)
		setTestMembership(t, db, roomB, alice, "join", 3)
		setTestMembership(t, db, roomA, bob, "join", 4)

		// leaving.yaml forgetRoom: only a room the user has left can be
		// forgotten.
		if err := forget(alice, roomB); !errors.Is(err, ErrNotFound) {
			t.Errorf("ForgetRoom(joined room) = %v, want ErrNotFound", err)
		}
		if err := forget(alice, "!never:hafen.test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ForgetRoom(room never joined) = %v, want ErrNotFound", err)
		}
		if got := forgotten(t, db, alice); len(got) != 0 {
			t.Fatalf("ForgottenRooms before forgetting = %v, want none", got)
		}
		if err := forget(alice, roomA); err != nil {
			t.Fatalf("ForgetRoom(left room): %v", err)
		}
		if err := forget(alice, roomA); err != nil {
			t.Fatalf("ForgetRoom again: %v", err)
		}
		if got, want := forgotten(t, db, alice), []id.RoomID{roomA}; !slices.Equal(got, want) {
			t.Errorf("ForgottenRooms(alice) = %v, want %v", got, want)
		}
		if got := forgotten(t, db, bob); len(got) != 0 {
			t.Errorf("ForgottenRooms(bob) = %v, want none: forgetting is per user", got)
		}

		// Leaving rooms: a forgotten room comes back when the user
		// re-joins (or is re-invited, or knocks).
		setTestMembership(t, db, roomA, alice, "join", 5)
		if got := forgotten(t, db, alice); len(got) != 0 {
			t.Errorf("ForgottenRooms after rejoining = %v, want none", got)
		}
		setTestMembership(t, db, roomA, alice, "leave", 6)
		if got := forgotten(t, db, alice); len(got) != 0 {
			t.Errorf("ForgottenRooms after leaving again = %v, want none until forgotten again", got)
		}
		if err := forget(alice, roomA); err != nil {
			t.Fatalf("ForgetRoom after the second leave: %v", err)
		}
		if got, want := forgotten(t, db, alice), []id.RoomID{roomA}; !slices.Equal(got, want) {
			t.Errorf("ForgottenRooms after forgetting again = %v, want %v", got, want)
		}

		// A banned user may forget the room too.
		setTestMembership(t, db, roomB, alice, "ban", 7)
		if err := forget(alice, roomB); err != nil {
			t.Fatalf("ForgetRoom(banned room): %v", err)
		}
		if got, want := forgotten(t, db, alice), []id.RoomID{roomA, roomB}; !slices.Equal(got, want) {
			t.Errorf("ForgottenRooms = %v, want %v", got, want)
		}
	})
}
