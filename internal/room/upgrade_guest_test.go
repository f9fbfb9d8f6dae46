package room

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// A room without an m.room.guest_access event forbids guests (other
// servers' public rooms often have none): its upgrade must not let them
// join through the preset the new room is built with. Spec: Client-Server
// API § Room upgrades (the new room replicates the transferable state).
func TestUpgradeKeepsGuestsOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		rr := newRemoteRoom(t, func(k event.StateKey) bool { return k.Type != "m.room.guest_access" })
		roomID, creator := rr.roomID, rr.creator
		local, _, _ := newService(t, dsn)
		if _, err := local.ImportJoin(ctx, RemoteJoin{RoomID: roomID, Version: roomversion.V12, Join: rr.join, State: rr.state, AuthChain: rr.state}); err != nil {
			t.Fatalf("ImportJoin: %v", err)
		}
		if ga, err := local.CurrentStateEvent(ctx, roomID, "m.room.guest_access", ""); err != nil || ga != nil {
			t.Fatalf("the old room's guest access = %v (%v), want none", ga, err)
		}
		newRoom, err := local.Upgrade(ctx, UpgradeRequest{RoomID: roomID, User: creator, Version: roomversion.V12})
		if err != nil {
			t.Fatalf("Upgrade: %v", err)
		}
		ga, err := local.CurrentStateEvent(ctx, newRoom, "m.room.guest_access", "")
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			GuestAccess string `json:"guest_access"`
		}
		if ga != nil {
			if err := json.Unmarshal(ga.Content(), &c); err != nil {
				t.Fatal(err)
			}
		}
		if ga != nil && c.GuestAccess != "forbidden" {
			t.Errorf("the new room's guest access = %q, want guests kept out", c.GuestAccess)
		}
	})
}
