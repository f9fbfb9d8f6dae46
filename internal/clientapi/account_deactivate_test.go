package clientapi

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestDeactivateLeavesRoomsAndErases checks account_deactivation.yaml and
// the spec's "Account deactivation": the server leaves every room the user
// is joined to, rejects their pending invites, retracts their knocks (each
// with a leave sent as the user; a ban stays), and with erase: true removes
// the profile and the account data (global, per room and tags); without
// erase they stay. Either way the user's OpenID tokens are revoked.
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

	userPath := "/_matrix/client/v3/user/" + url.PathEscape(string(alice.UserID))
	e.expect(e.do("PUT", userPath+"/account_data/org.example.settings", token, map[string]any{"theme": "dark"}), 200, "")
	e.expect(e.do("PUT", userPath+"/rooms/"+url.PathEscape(string(joined))+"/account_data/org.example.draft", token, map[string]any{"text": "hi"}), 200, "")
	e.expect(e.do("PUT", userPath+"/rooms/"+url.PathEscape(string(joined))+"/tags/u.work", token, map[string]any{"order": 0.5}), 200, "")
	oid := e.do("POST", userPath+"/openid/request_token", token, map[string]any{})
	e.expect(oid, 200, "")

	e.deactivateWith("alice", token, erase)

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
	for _, d := range []struct {
		roomID id.RoomID
		typ    string
	}{{"", "org.example.settings"}, {joined, "org.example.draft"}, {joined, "m.tag"}} {
		_, err := e.db.AccountDataOf(ctx, user, d.roomID, d.typ)
		if erase && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s in %q after deactivation with erase: %v, want it gone", d.typ, d.roomID, err)
		}
		if !erase && err != nil {
			t.Errorf("%s in %q after deactivation without erase: %v, want it kept", d.typ, d.roomID, err)
		}
	}
	if owner, err := e.srv.Store.(*account.Service).OpenIDTokenOwner(ctx, oid.str("access_token")); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("OpenID token after deactivation resolves to %q, %v; want it revoked", owner, err)
	}
}
