package clientapi

import (
	"context"
	"errors"
	"sync"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/room"
)

// TestCreateRoomAliasIsAtomic checks that createRoom's alias is written in
// the room's own transaction: of concurrent requests for one alias exactly
// one creates a room, the others get 400 M_ROOM_IN_USE (create_room.yaml)
// and leave no room behind; the event path refuses a taken alias itself.
func TestCreateRoomAliasIsAtomic(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		ctx := context.Background()
		const racers = 6
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			won    []mid.RoomID
			inUses int
		)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "race"})
				mu.Lock()
				defer mu.Unlock()
				var he mautrix.HTTPError
				switch {
				case err == nil:
					won = append(won, r.RoomID)
				case errors.As(err, &he) && he.RespError != nil && he.RespError.StatusCode == 400 && he.RespError.ErrCode == "M_ROOM_IN_USE":
					inUses++
				default:
					t.Errorf("createRoom: %v, want success or 400 M_ROOM_IN_USE", err)
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 || inUses != racers-1 {
			t.Fatalf("%d racers for one alias: %d created a room, %d got M_ROOM_IN_USE; want 1 and %d", racers, len(won), inUses, racers-1)
		}
		alias := must[*mautrix.RespAliasResolve](t, "resolve")(alice.ResolveAlias(ctx, "#race:hafen.test"))
		if alias.RoomID != won[0] {
			t.Errorf("alias points to %s, want the winner %s", alias.RoomID, won[0])
		}

		// The event path itself refuses a taken alias, before anything of
		// the room is written.
		_, err := e.srv.Rooms.Service.CreateRoom(ctx, &room.CreateRequest{
			Creator: id.UserID(alice.UserID), Version: roomversion.Default, Alias: "#race:hafen.test",
		})
		if !errors.Is(err, room.ErrAliasInUse) {
			t.Errorf("CreateRoom with a taken alias: %v, want ErrAliasInUse", err)
		}
		joined := must[[]id.RoomID](t, "joined rooms")(e.db.JoinedRooms(ctx, id.UserID(alice.UserID)))
		if len(joined) != 1 || joined[0] != id.RoomID(won[0]) {
			t.Errorf("alice's rooms = %v, want only %s: a losing request left a room", joined, won[0])
		}
	})
}

// TestCreateRoomInitialStatePowerLevels checks that initial_state may hold
// m.room.power_levels, as Synapse allows: its content becomes the room's
// power levels in place of the defaults, and power_level_content_override
// does not apply to it (in the spec's order the initial_state event, step
// 6, would replace the overridden defaults of step 3 all the same).
func TestCreateRoomInitialStatePowerLevels(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		ctx := context.Background()
		tests := []struct {
			name, version string
			users         map[string]any
		}{
			{"v10 lists the creator", "10", map[string]any{string(alice.UserID): 100, string(bob.UserID): 50}},
			{"v12 creators hold power without being listed", "12", map[string]any{string(bob.UserID): 50}},
		}
		overrideBan := 99
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				pl := map[string]any{"users": tc.users, "users_default": 0, "events_default": 10, "state_default": 60, "ban": 70, "kick": 70, "redact": 70, "invite": 0}
				r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
					RoomVersion: mid.RoomVersion(tc.version),
					InitialState: []*mevent.Event{{
						Type: mevent.StatePowerLevels, StateKey: new(string), Content: mevent.Content{Raw: pl},
					}},
					PowerLevelOverride: &mevent.PowerLevelsEventContent{BanPtr: &overrideBan},
				}))
				var got map[string]any
				if err := alice.StateEvent(ctx, r.RoomID, mevent.StatePowerLevels, "", &got); err != nil {
					t.Fatalf("get power levels: %v", err)
				}
				for _, k := range []string{"events_default", "state_default", "ban", "kick", "redact", "invite"} {
					if got[k] != float64(pl[k].(int)) {
						t.Errorf("power levels %s = %v, want %v from initial_state", k, got[k], pl[k])
					}
				}
				users, _ := got["users"].(map[string]any)
				if len(users) != len(tc.users) || users[string(bob.UserID)] != float64(50) {
					t.Errorf("power levels users = %v, want %v", users, tc.users)
				}
				// The creator can still send what the levels allow.
				must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "hello"))
			})
		}
	})
}
