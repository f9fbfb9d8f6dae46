package clientapi

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/hafenchat/hafen/internal/profile"
)

// memberNames returns, oldest first, the displaynames of the user's join
// events in a room's timeline ("" for none).
func (e *roomEnv) memberNames(token, roomID, user string) []string {
	e.t.Helper()
	res := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=100", token, nil)
	e.expect(res, 200, "")
	var page struct {
		Chunk []struct {
			Type     string `json:"type"`
			StateKey string `json:"state_key"`
			Content  struct {
				Membership  string `json:"membership"`
				DisplayName string `json:"displayname"`
			} `json:"content"`
		} `json:"chunk"`
	}
	if err := json.Unmarshal([]byte(res.raw), &page); err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for i := len(page.Chunk) - 1; i >= 0; i-- {
		ev := page.Chunk[i]
		if ev.Type == "m.room.member" && ev.StateKey == user && ev.Content.Membership == "join" {
			names = append(names, ev.Content.DisplayName)
		}
	}
	return names
}

// TestProfileChangeReachesEveryRoom: a displayname change answers once the
// profile is stored, and the join events follow in the background: one
// new join event per joined room; two quick changes end with the newest
// name everywhere and the superseded one in no room; a change queued
// before a stop is carried by the next start's worker.
func TestProfileChangeReachesEveryRoom(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, alice := e.user("alice")
		const user = "@alice:hafen.test"
		rooms := []string{e.createRoom(alice), e.createRoom(alice), e.createRoom(alice)}
		name := "/_matrix/client/v3/profile/" + url.PathEscape(user) + "/displayname"

		e.expect(e.do("PUT", name, alice, map[string]any{"displayname": "Alice One"}), 200, "")
		if got := e.do("GET", name, "", nil); got.str("displayname") != "Alice One" {
			t.Fatalf("profile after PUT = %s", got.raw)
		}
		e.drainProfiles()
		for _, r := range rooms {
			names := e.memberNames(alice, r, user)
			if len(names) != 2 || names[1] != "Alice One" {
				t.Errorf("join events of %s = %q, want the creation join and one with Alice One", r, names)
			}
		}

		e.expect(e.do("PUT", name, alice, map[string]any{"displayname": "Alice Two"}), 200, "")
		e.expect(e.do("PUT", name, alice, map[string]any{"displayname": "Alice Three"}), 200, "")
		e.drainProfiles()
		for _, r := range rooms {
			names := e.memberNames(alice, r, user)
			if len(names) != 3 || names[2] != "Alice Three" {
				t.Errorf("join events of %s = %q, want one more, with Alice Three", r, names)
			}
		}
		// Draining again sends nothing: every room is up to date.
		e.drainProfiles()
		if names := e.memberNames(alice, rooms[0], user); len(names) != 3 {
			t.Errorf("join events after a second drain = %q", names)
		}

		// The queue is in the store: a new service over the same store
		// (a restart) carries a change the old one never sent.
		e.expect(e.do("PUT", name, alice, map[string]any{"displayname": "Alice Four"}), 200, "")
		restarted := &profile.Service{ServerName: "hafen.test", DB: e.db, Rooms: e.profiles.Rooms}
		if err := restarted.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			names := e.memberNames(alice, r, user)
			if len(names) != 4 || names[3] != "Alice Four" {
				t.Errorf("join events of %s after restart = %q, want Alice Four last", r, names)
			}
		}
	})
}
