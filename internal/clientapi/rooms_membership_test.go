package clientapi

import (
	"context"
	"slices"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestForgetRoomPersists checks that POST /rooms/{roomId}/forget records
// the forget, and that rejoining ends it (leaving.yaml forgetRoom; Leaving
// rooms: forgotten rooms return once the user re-joins).
func TestForgetRoomPersists(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
	roomID := id.RoomID(r.RoomID)
	forgotten := func() []id.RoomID {
		t.Helper()
		rooms, err := e.db.ForgottenRooms(ctx, id.UserID(bob.UserID))
		if err != nil {
			t.Fatalf("ForgottenRooms: %v", err)
		}
		return rooms
	}

	// A room bob was never in: nothing to forget, nothing recorded.
	must[*mautrix.RespForgetRoom](t, "forget a room never joined")(bob.ForgetRoom(ctx, r.RoomID))
	if got := forgotten(); len(got) != 0 {
		t.Fatalf("forgotten after forgetting a room never joined = %v, want none", got)
	}

	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
	_, err := bob.ForgetRoom(ctx, r.RoomID)
	wantErr(t, "forget while joined", err, 400, "M_UNKNOWN")
	must[*mautrix.RespLeaveRoom](t, "leave")(bob.LeaveRoom(ctx, r.RoomID))
	must[*mautrix.RespForgetRoom](t, "forget")(bob.ForgetRoom(ctx, r.RoomID))
	if got, want := forgotten(), []id.RoomID{roomID}; !slices.Equal(got, want) {
		t.Fatalf("forgotten after forget = %v, want %v", got, want)
	}

	must[*mautrix.RespJoinRoom](t, "rejoin")(bob.JoinRoomByID(ctx, r.RoomID))
	if got := forgotten(); len(got) != 0 {
		t.Errorf("forgotten after rejoining = %v, want none", got)
	}
}
