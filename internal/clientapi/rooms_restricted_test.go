package clientapi

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// TestRestrictedJoins checks joins of restricted and knock_restricted rooms
// (Client-Server API § Restricted rooms; auth rule 4.3.5): a member of an
// allowed room joins with join_authorised_via_users_server naming a local
// user who may invite; anyone else gets 403 M_FORBIDDEN; a qualifying user
// gets 400 M_UNABLE_TO_GRANT_JOIN when no local member may invite
// (Server-Server API § Restricted rooms).
func TestRestrictedJoins(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		ctx := context.Background()
		space := must[*mautrix.RespCreateRoom](t, "create space")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins the space")(bob.JoinRoomByID(ctx, space))

		restricted := func(rule, version string, allow mid.RoomID, override *mevent.PowerLevelsEventContent) mid.RoomID {
			t.Helper()
			return must[*mautrix.RespCreateRoom](t, "create "+rule)(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
				RoomVersion: mid.RoomVersion(version),
				InitialState: []*mevent.Event{{
					Type: mevent.StateJoinRules, StateKey: new(string),
					Content: mevent.Content{Raw: map[string]any{
						"join_rule": rule,
						"allow":     []any{map[string]any{"type": "m.room_membership", "room_id": string(allow)}},
					}},
				}},
				PowerLevelOverride: override,
			})).RoomID
		}
		authorisedBy := func(roomID mid.RoomID, user mid.UserID) any {
			t.Helper()
			var c map[string]any
			if err := alice.StateEvent(ctx, roomID, mevent.StateMember, string(user), &c); err != nil {
				t.Fatalf("member event of %s: %v", user, err)
			}
			if c["membership"] != "join" {
				t.Fatalf("membership of %s = %v, want join", user, c["membership"])
			}
			return c["join_authorised_via_users_server"]
		}

		for _, tc := range []struct{ rule, version string }{
			{"restricted", "12"},
			{"restricted", "8"},
			{"knock_restricted", "10"},
		} {
			t.Run(tc.rule+" v"+tc.version, func(t *testing.T) {
				roomID := restricted(tc.rule, tc.version, space, nil)
				_, err := carol.JoinRoomByID(ctx, roomID)
				wantErr(t, "join without being in the allowed room", err, 403, "M_FORBIDDEN")
				must[*mautrix.RespJoinRoom](t, "join as a member of the allowed room")(bob.JoinRoomByID(ctx, roomID))
				if got := authorisedBy(roomID, bob.UserID); got != string(alice.UserID) {
					t.Errorf("join_authorised_via_users_server = %v, want %s", got, alice.UserID)
				}
				// Rejoining after leaving qualifies again; an invite needs no
				// condition and no authoriser.
				must[*mautrix.RespLeaveRoom](t, "leave")(bob.LeaveRoom(ctx, roomID))
				must[*mautrix.RespJoinRoom](t, "rejoin")(bob.JoinRoomByID(ctx, roomID))
				must[*mautrix.RespInviteUser](t, "invite carol")(alice.InviteUser(ctx, roomID, &mautrix.ReqInviteUser{UserID: carol.UserID}))
				must[*mautrix.RespJoinRoom](t, "invited join")(carol.JoinRoomByID(ctx, roomID))
				if got := authorisedBy(roomID, carol.UserID); got != nil {
					t.Errorf("invited join carries join_authorised_via_users_server %v", got)
				}
			})
		}

		t.Run("the authoriser is the most powerful local member who may invite", func(t *testing.T) {
			dave, _ := e.user("dave")
			erin, _ := e.user("erin")
			must[*mautrix.RespJoinRoom](t, "erin joins the space")(erin.JoinRoomByID(ctx, space))
			roomID := restricted("restricted", "10", space, &mevent.PowerLevelsEventContent{
				Users: map[mid.UserID]int{alice.UserID: 100, dave.UserID: 60, carol.UserID: 10},
			})
			for _, u := range []*mautrix.Client{dave, carol} {
				must[*mautrix.RespInviteUser](t, "invite")(alice.InviteUser(ctx, roomID, &mautrix.ReqInviteUser{UserID: u.UserID}))
				must[*mautrix.RespJoinRoom](t, "join")(u.JoinRoomByID(ctx, roomID))
			}
			must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
			if got := authorisedBy(roomID, bob.UserID); got != string(alice.UserID) {
				t.Errorf("authoriser = %v, want %s (100)", got, alice.UserID)
			}
			must[*mautrix.RespLeaveRoom](t, "alice leaves")(alice.LeaveRoom(ctx, roomID))
			must[*mautrix.RespJoinRoom](t, "erin joins")(erin.JoinRoomByID(ctx, roomID))
			var c map[string]any
			if err := erin.StateEvent(ctx, roomID, mevent.StateMember, string(erin.UserID), &c); err != nil {
				t.Fatalf("erin's member event: %v", err)
			}
			// carol (10) is below the invite level (50), bob (0) too.
			if got := c["join_authorised_via_users_server"]; got != string(dave.UserID) {
				t.Errorf("authoriser after alice left = %v, want %s (60)", got, dave.UserID)
			}
		})
		t.Run("allowed room unknown here", func(t *testing.T) {
			roomID := restricted("restricted", "12", "!nowhere:hafen.test", nil)
			_, err := bob.JoinRoomByID(ctx, roomID)
			wantErr(t, "join with an allowed room this server is not in", err, 403, "M_FORBIDDEN")
		})
		t.Run("no local user may invite", func(t *testing.T) {
			// In v10 the creator holds 100, below this room's invite level.
			level := 101
			roomID := restricted("restricted", "10", space, &mevent.PowerLevelsEventContent{
				Users:     map[mid.UserID]int{alice.UserID: 100},
				InvitePtr: &level,
			})
			_, err := bob.JoinRoomByID(ctx, roomID)
			wantErr(t, "qualifying join nobody can authorise", err, 400, "M_UNABLE_TO_GRANT_JOIN")
			_, err = carol.JoinRoomByID(ctx, roomID)
			wantErr(t, "join that does not qualify", err, 403, "M_FORBIDDEN")
		})
	})
}
