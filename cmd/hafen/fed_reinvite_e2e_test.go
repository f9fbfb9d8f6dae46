package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestInviteIntoKnownRoomEndToEnd: bob of B joins a room of A and leaves
// it, so B knows the room but has no user in it; the room moves on
// without B. alice of A invites bob again: B accepts the invite (it used
// to refuse it, its state being stale), bob's sync shows it with the
// stripped state A sent, and bob joins through A: B takes the room's
// state afresh and follows the room from there. Invited once more, bob
// rejects the invite through A, and both his sync and A's state show it.
func TestInviteIntoKnownRoomEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a, b := startFedServer(t, dbArgs(t)...), startFedServer(t, dbArgs(t)...)
			alice, bob := register(t, a.base, "alice"), register(t, b.base, "bob")
			atok, btok := alice.AccessToken, bob.AccessToken
			bobID := id.UserID(bob.UserID)
			roomID := createPublicRoom(t, a.base, atok)
			joinVia(t, b.base, btok, roomID, a.name)
			sendMessage(t, a.base, atok, roomID, "m1", "first")
			waitTimelineBody(t, b.base, btok, roomID, "first")
			csCall(t, b.base, btok, http.MethodPost, roomPath(roomID, "/leave"), map[string]any{}, &struct{}{})
			membershipOnA := func() any {
				m, _ := stateContent(t, a.base, atok, roomID, "m.room.member", string(bobID))
				return m["membership"]
			}
			waitFor(t, "A sees bob leave", func() bool { return membershipOnA() == "leave" })

			// The room moves on without B.
			csCall(t, a.base, atok, http.MethodPut, roomPath(roomID, "/state/m.room.name/"), map[string]any{"name": "renamed while bob was away"}, &struct{}{})
			sendMessage(t, a.base, atok, roomID, "m2", "while bob was away")

			invite := func() {
				t.Helper()
				if st := csCall(t, a.base, atok, http.MethodPost, roomPath(roomID, "/invite"), map[string]any{"user_id": bobID}, &struct{}{}); st != 200 {
					t.Fatalf("alice invites bob, whose server knows the room without a user in it: %d\n%s", st, b.logs)
				}
			}
			invite()
			var s struct {
				Rooms struct {
					Invite map[id.RoomID]struct {
						InviteState struct {
							Events []struct {
								Type    string          `json:"type"`
								Content json.RawMessage `json:"content"`
							} `json:"events"`
						} `json:"invite_state"`
					} `json:"invite"`
				} `json:"rooms"`
			}
			waitFor(t, "bob's sync shows the invite", func() bool {
				csCall(t, b.base, btok, http.MethodGet, "/_matrix/client/v3/sync?timeout=0", nil, &s)
				_, ok := s.Rooms.Invite[roomID]
				return ok
			})
			named := false
			for _, e := range s.Rooms.Invite[roomID].InviteState.Events {
				var c struct {
					Name string `json:"name"`
				}
				json.Unmarshal(e.Content, &c)
				named = named || e.Type == "m.room.name" && c.Name == "renamed while bob was away"
			}
			if !named {
				t.Errorf("invite state %+v lacks the room's current name (A's stripped state)", s.Rooms.Invite[roomID].InviteState.Events)
			}

			// Bob accepts: he joins through A.
			if st := csCall(t, b.base, btok, http.MethodPost, roomPath(roomID, "/join"), map[string]any{}, &struct{}{}); st != 200 {
				t.Fatalf("bob accepts the invite: %d\n%s", st, b.logs)
			}
			waitFor(t, "A sees bob joined again", func() bool { return membershipOnA() == "join" })
			if c, _ := stateContent(t, b.base, btok, roomID, "m.room.name", ""); c["name"] != "renamed while bob was away" {
				t.Errorf("B's name of the room after the join = %v, want the current one", c["name"])
			}
			sendMessage(t, a.base, atok, roomID, "m3", "welcome back")
			waitTimelineBody(t, b.base, btok, roomID, "welcome back")
			sendMessage(t, b.base, btok, roomID, "m4", "glad to be back")
			waitTimelineBody(t, a.base, atok, roomID, "glad to be back")
			waitFor(t, "A and B have the same current state", func() bool {
				return maps.Equal(currentState(t, a.base, atok, roomID), currentState(t, b.base, btok, roomID))
			})

			// Away again, invited again: bob rejects through A.
			csCall(t, b.base, btok, http.MethodPost, roomPath(roomID, "/leave"), map[string]any{}, &struct{}{})
			waitFor(t, "A sees bob leave again", func() bool { return membershipOnA() == "leave" })
			invite()
			waitFor(t, "bob's sync shows the second invite", func() bool {
				s.Rooms.Invite = nil
				csCall(t, b.base, btok, http.MethodGet, "/_matrix/client/v3/sync?timeout=0", nil, &s)
				_, ok := s.Rooms.Invite[roomID]
				return ok
			})
			if st := csCall(t, b.base, btok, http.MethodPost, roomPath(roomID, "/leave"), map[string]any{}, &struct{}{}); st != 200 {
				t.Fatalf("bob rejects the invite: %d\n%s", st, b.logs)
			}
			waitFor(t, "A sees the rejection", func() bool { return membershipOnA() == "leave" })
			var left struct {
				Rooms struct {
					Invite map[id.RoomID]json.RawMessage `json:"invite"`
					Leave  map[id.RoomID]json.RawMessage `json:"leave"`
				} `json:"rooms"`
			}
			filter := `{"room":{"include_leave":true}}`
			if st := csCall(t, b.base, btok, http.MethodGet, "/_matrix/client/v3/sync?timeout=0&filter="+filter, nil, &left); st != 200 {
				t.Fatalf("bob's sync after the rejection = %d", st)
			}
			if _, ok := left.Rooms.Invite[roomID]; ok {
				t.Errorf("bob's sync still shows the rejected invite")
			}
			if _, ok := left.Rooms.Leave[roomID]; !ok {
				t.Errorf("bob's sync does not show the room as left: %+v", left.Rooms)
			}
		})
	}
}
