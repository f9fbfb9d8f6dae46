package clientapi

import (
	"context"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestDeactivateLeavesRoomsAndErases checks account_deactivation.yaml and
// the spec's "Account deactivation": the server leaves every room the user
// is joined to, rejects their pending invites, retracts their knocks (each
// with a leave sent as the user; a ban stays), and with erase: true removes
// the profile; without erase the profile stays.
func TestDeactivateLeavesRoomsAndErases(t *testing.T) {
	for _, erase := range []bool{true, false} {
		name := "erase"
		if !erase {
			name = "keep"
		}
		t.Run(name, func(t *testing.T) {
			forEachRoomEnv(t, func(t *testing.T, e *roomEnv) { testDeactivate(t, e, erase) })
		})
	}
}

func testDeactivate(t *testing.T, e *roomEnv, erase bool) {
	alice, token := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	if err := alice.SetDisplayName(ctx, "Alice A"); err != nil {
		t.Fatalf("set displayname: %v", err)
	}
	e.expect(e.do("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(string(alice.UserID))+"/org.example.job", token, map[string]any{"org.example.job": "pilot"}), 200, "")
	if err := alice.SetAvatarURL(ctx, mid.ContentURI{Homeserver: "hafen.test", FileID: "avatar"}); err != nil {
		t.Fatalf("set avatar_url: %v", err)
	}
	create := func(what string, req *mautrix.ReqCreateRoom) id.RoomID {
		t.Helper()
		return id.RoomID(must[*mautrix.RespCreateRoom](t, what)(bob.CreateRoom(ctx, req)).RoomID)
	}
	joined := create("joined room", &mautrix.ReqCreateRoom{Preset: "public_chat"})
	must[*mautrix.RespJoinRoom](t, "join")(alice.JoinRoomByID(ctx, mid.RoomID(joined)))
	invited := create("invited room", &mautrix.ReqCreateRoom{Invite: []mid.UserID{alice.UserID}})
	knocked := create("knocked room", &mautrix.ReqCreateRoom{InitialState: []*mevent.Event{{
		Type: mevent.StateJoinRules, StateKey: new(string), Content: mevent.Content{Raw: map[string]any{"join_rule": "knock"}},
	}}})
	must[*mautrix.RespKnockRoom](t, "knock")(alice.KnockRoom(ctx, string(knocked), nil))
	banned := create("banned room", &mautrix.ReqCreateRoom{Preset: "public_chat"})
	must[*mautrix.RespJoinRoom](t, "join banned room")(alice.JoinRoomByID(ctx, mid.RoomID(banned)))
	must[*mautrix.RespBanUser](t, "ban")(bob.BanUser(ctx, mid.RoomID(banned), &mautrix.ReqBanUser{UserID: alice.UserID}))

	c := e.do("POST", "/_matrix/client/v3/account/deactivate", token, map[string]any{"erase": erase})
	e.expect(c, 401, "")
	d := e.do("POST", "/_matrix/client/v3/account/deactivate", token, map[string]any{
		"erase": erase, "auth": passwordAuth("alice", "pw-alice", c.str("session")),
	})
	e.expect(d, 200, "")

	user := id.UserID(alice.UserID)
	for _, tc := range []struct {
		what   string
		roomID id.RoomID
		want   string
	}{
		{"joined room", joined, "leave"},
		{"pending invite", invited, "leave"},
		{"knock", knocked, "leave"},
		{"ban", banned, "ban"},
	} {
		m := must[store.Member](t, tc.what)(e.db.Membership(ctx, tc.roomID, user))
		if m.Membership != tc.want {
			t.Errorf("%s: membership after deactivation = %s, want %s", tc.what, m.Membership, tc.want)
		}
		if tc.want != "leave" {
			continue
		}
		ms := must[*mautrix.RespMembers](t, "members")(bob.Members(ctx, mid.RoomID(tc.roomID)))
		for _, ev := range ms.Chunk {
			if ev.StateKey != nil && *ev.StateKey == string(user) && ev.Sender != alice.UserID {
				t.Errorf("%s: the leave was sent by %s, want the user", tc.what, ev.Sender)
			}
		}
	}
	got := e.do("GET", "/_matrix/client/v3/profile/"+url.PathEscape(string(user)), "", nil)
	if erase {
		if got.body["displayname"] != nil || got.body["avatar_url"] != nil || got.body["org.example.job"] != nil {
			t.Errorf("profile after deactivation with erase = %v, want no displayname, avatar_url or extended field", got.body)
		}
	} else if got.body["displayname"] != "Alice A" || got.body["org.example.job"] != "pilot" {
		t.Errorf("profile after deactivation without erase = %v, want the displayname kept", got.body)
	}
}
