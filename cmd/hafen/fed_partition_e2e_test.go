package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// currentState returns a room's current state through the client API as
// (type, state_key) → event ID.
func currentState(t *testing.T, base, token string, roomID id.RoomID) map[[2]string]id.EventID {
	t.Helper()
	var evs []struct {
		EventID  id.EventID `json:"event_id"`
		Type     string     `json:"type"`
		StateKey string     `json:"state_key"`
	}
	csCall(t, base, token, http.MethodGet, roomPath(roomID, "/state"), nil, &evs)
	out := map[[2]string]id.EventID{}
	for _, e := range evs {
		out[[2]string{e.Type, e.StateKey}] = e.EventID
	}
	return out
}

// timelineBodies returns how often each message body is in the user's
// sync timeline of the room.
func timelineBodies(t *testing.T, base, token string, roomID id.RoomID) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, raw := range timelineOf(t, base, token, roomID) {
		var e clientEvent
		json.Unmarshal(raw, &e)
		if e.Type == "m.room.message" {
			out[e.Content.Body]++
		}
	}
	return out
}

// TestPartitionEndToEnd: servers A and B share a room, then are cut off
// from each other. On both sides users send messages, change the topic,
// the name and the power levels, and kick a user of the other side. When
// they meet again, each catches the other up; both end with the same
// resolved current state, and every message reaches both sides' sync
// exactly once.
func TestPartitionEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a, pa := startProxiedFedServer(t, dbArgs(t)...)
			b, pb := startProxiedFedServer(t, dbArgs(t)...)
			alice, carol := register(t, a.base, "alice"), register(t, a.base, "carol")
			bob, dave := register(t, b.base, "bob"), register(t, b.base, "dave")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			joinVia(t, a.base, carol.AccessToken, roomID, a.name)
			joinVia(t, b.base, bob.AccessToken, roomID, a.name)
			joinVia(t, b.base, dave.AccessToken, roomID, a.name)
			setUserPower(t, a.base, alice.AccessToken, roomID, id.UserID(bob.UserID), 100)
			sendMessage(t, a.base, alice.AccessToken, roomID, "before", "before the cut")
			waitTimelineBody(t, b.base, bob.AccessToken, roomID, "before the cut")
			// Both sides know every member before the cut.
			for _, who := range []struct {
				srv   *fedServer
				token string
				user  string
			}{{a, alice.AccessToken, string(bob.UserID)}, {a, alice.AccessToken, string(dave.UserID)}, {b, bob.AccessToken, string(carol.UserID)}} {
				waitFor(t, who.user+" is joined on "+string(who.srv.name), func() bool {
					m, st := stateContent(t, who.srv.base, who.token, roomID, "m.room.member", who.user)
					return st == 200 && m["membership"] == "join"
				})
			}
			waitFor(t, "B sees bob's power", func() bool {
				pl, _ := stateContent(t, b.base, bob.AccessToken, roomID, "m.room.power_levels", "")
				users, _ := pl["users"].(map[string]any)
				return users[string(bob.UserID)] == float64(100)
			})

			partition(true, pa, pb)
			want := map[string]int{"before the cut": 1}
			side := func(s *fedServer, token string, tag string, victim id.UserID, promote id.UserID) {
				put := func(typ string, content map[string]any) {
					csCall(t, s.base, token, http.MethodPut, roomPath(roomID, "/state/"+typ+"/"), content, &struct{}{})
				}
				for i := range 10 {
					body := fmt.Sprintf("%s %d", tag, i)
					sendMessage(t, s.base, token, roomID, fmt.Sprintf("p%s%d", tag, i), body)
					want[body] = 1
					switch i {
					case 2:
						put("m.room.topic", map[string]any{"topic": "topic of " + tag})
					case 4:
						put("m.room.name", map[string]any{"name": "name of " + tag})
					case 6:
						setUserPower(t, s.base, token, roomID, promote, 50)
					case 8:
						csCall(t, s.base, token, http.MethodPost, roomPath(roomID, "/kick"), map[string]any{"user_id": victim, "reason": "partition"}, &struct{}{})
					}
				}
			}
			side(a, alice.AccessToken, "A", id.UserID(dave.UserID), id.UserID(carol.UserID))
			side(b, bob.AccessToken, "B", id.UserID(carol.UserID), id.UserID(dave.UserID))
			// Each side diverged: its own topic.
			if c, _ := stateContent(t, a.base, alice.AccessToken, roomID, "m.room.topic", ""); c["topic"] != "topic of A" {
				t.Fatalf("A's topic during the cut = %v", c["topic"])
			}
			if c, _ := stateContent(t, b.base, bob.AccessToken, roomID, "m.room.topic", ""); c["topic"] != "topic of B" {
				t.Fatalf("B's topic during the cut = %v", c["topic"])
			}

			partition(false, pa, pb)
			poke(t, a, b)
			poke(t, b, a)
			for _, s := range []struct {
				srv   *fedServer
				token string
			}{{a, alice.AccessToken}, {b, bob.AccessToken}} {
				waitFor(t, "every message reaches "+string(s.srv.name), func() bool {
					got := timelineBodies(t, s.srv.base, s.token, roomID)
					for body := range want {
						if got[body] == 0 {
							return false
						}
					}
					return true
				})
				got := timelineBodies(t, s.srv.base, s.token, roomID)
				for body, n := range got {
					if n != 1 {
						t.Errorf("%s: %q is %d times in the timeline, want once", s.srv.name, body, n)
					}
				}
			}
			var stateA, stateB map[[2]string]id.EventID
			waitFor(t, "A and B resolve the same current state", func() bool {
				stateA = currentState(t, a.base, alice.AccessToken, roomID)
				stateB = currentState(t, b.base, bob.AccessToken, roomID)
				return maps.Equal(stateA, stateB)
			})
			// The resolution kept one side's topic, name and power levels,
			// and both kicks.
			topic, _ := stateContent(t, a.base, alice.AccessToken, roomID, "m.room.topic", "")
			roomName, _ := stateContent(t, a.base, alice.AccessToken, roomID, "m.room.name", "")
			if topic["topic"] != "topic of A" && topic["topic"] != "topic of B" || roomName["name"] != "name of A" && roomName["name"] != "name of B" {
				t.Errorf("resolved topic %v, name %v", topic["topic"], roomName["name"])
			}
			for _, u := range []string{string(carol.UserID), string(dave.UserID)} {
				m, _ := stateContent(t, a.base, alice.AccessToken, roomID, "m.room.member", u)
				if m["membership"] != "leave" {
					t.Errorf("%s is %v after the merge, want kicked (leave)", u, m["membership"])
				}
			}
			// And the room goes on from there on both sides.
			sendMessage(t, b.base, bob.AccessToken, roomID, "after", "after the merge")
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "after the merge")
		})
	}
}
