package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// TestUpgradeRoomCarriesSettingsOver follows Client-Server API § Room
// Upgrades, server behaviour, on every backend: the room directory
// listing moves to the new room, a space keeps its children (not the
// removed ones), and a user who joins the new room (or upgrades it) finds
// there their tags, the push rules that named the old room (Element mutes
// a room with an override rule named after it) and its place among their
// direct chats; what the new room has already is kept.
func TestUpgradeRoomCarriesSettingsOver(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		old := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", RoomVersion: "11", Visibility: "public",
			CreationContent: map[string]any{"type": "m.space"},
			InitialState: []*mevent.Event{
				{Type: mevent.StateSpaceChild, StateKey: ptr("!kept:hafen.test"), Content: mevent.Content{Raw: map[string]any{"via": []string{"hafen.test"}}}},
				{Type: mevent.StateSpaceChild, StateKey: ptr("!removed:hafen.test"), Content: mevent.Content{Raw: map[string]any{}}},
			},
		})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, old))
		oldPath := url.PathEscape(string(old))
		tag := func(tok string, user mid.UserID, roomID mid.RoomID, name string) {
			t.Helper()
			e.expect(e.do("PUT", "/_matrix/client/v3/user/"+url.PathEscape(string(user))+"/rooms/"+url.PathEscape(string(roomID))+"/tags/"+name, tok, map[string]any{}), http.StatusOK, "")
		}
		tags := func(tok string, user mid.UserID, roomID mid.RoomID) []string {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/user/"+url.PathEscape(string(user))+"/rooms/"+url.PathEscape(string(roomID))+"/tags", tok, nil)
			e.expect(res, http.StatusOK, "")
			var out []string
			for k := range res.body["tags"].(map[string]any) {
				out = append(out, k)
			}
			slices.Sort(out)
			return out
		}
		tag(bobTok, bob.UserID, old, "m.favourite")
		tag(aliceTok, alice.UserID, old, "u.work")
		mute := map[string]any{"actions": []any{}, "conditions": []any{map[string]any{"kind": "event_match", "key": "room_id", "pattern": string(old)}}}
		e.expect(e.do("PUT", "/_matrix/client/v3/pushrules/global/override/"+oldPath, bobTok, mute), http.StatusOK, "")
		e.expect(e.do("PUT", "/_matrix/client/v3/pushrules/global/room/"+oldPath, bobTok, map[string]any{"actions": []any{"notify"}}), http.StatusOK, "")
		e.expect(e.do("PUT", "/_matrix/client/v3/user/"+url.PathEscape(string(bob.UserID))+"/account_data/m.direct", bobTok,
			map[string]any{string(alice.UserID): []string{string(old)}}), http.StatusOK, "")

		up := e.do("POST", "/_matrix/client/v3/rooms/"+oldPath+"/upgrade", aliceTok, map[string]any{"new_version": "12"})
		e.expect(up, http.StatusOK, "")
		newRoom := mid.RoomID(up.str("replacement_room"))
		newPath := url.PathEscape(string(newRoom))

		for roomID, want := range map[mid.RoomID]string{old: "private", newRoom: "public"} {
			res := e.do("GET", "/_matrix/client/v3/directory/list/room/"+url.PathEscape(string(roomID)), "", nil)
			if res.str("visibility") != want {
				t.Errorf("directory visibility of %s = %s, want %s", roomID, res.raw, want)
			}
		}
		if got := stateContent(t, alice, newRoom, "m.space.child", "!kept:hafen.test"); got == nil {
			t.Error("the new space lost its child")
		}
		if got := stateContent(t, alice, newRoom, "m.space.child", "!removed:hafen.test"); got != nil {
			t.Errorf("the new space has the removed child: %v", got)
		}
		if got := tags(aliceTok, alice.UserID, newRoom); !slices.Equal(got, []string{"u.work"}) {
			t.Errorf("the upgrader's tags of the new room = %v, want [u.work]", got)
		}

		// Bob's settings follow him once he joins; a tag he set on the
		// new room meanwhile keeps the old room's out.
		must[*mautrix.RespJoinRoom](t, "bob joins the new room")(bob.JoinRoomByID(ctx, newRoom))
		if got := tags(bobTok, bob.UserID, newRoom); !slices.Equal(got, []string{"m.favourite"}) {
			t.Errorf("bob's tags of the new room = %v, want [m.favourite]", got)
		}
		override := e.do("GET", "/_matrix/client/v3/pushrules/global/override/"+newPath, bobTok, nil)
		e.expect(override, http.StatusOK, "")
		if conds := override.body["conditions"].([]any); len(conds) != 1 || conds[0].(map[string]any)["pattern"] != string(newRoom) {
			t.Errorf("bob's mute rule of the new room = %s", override.raw)
		}
		e.expect(e.do("GET", "/_matrix/client/v3/pushrules/global/room/"+newPath, bobTok, nil), http.StatusOK, "")
		direct := e.do("GET", "/_matrix/client/v3/user/"+url.PathEscape(string(bob.UserID))+"/account_data/m.direct", bobTok, nil)
		if rooms, _ := direct.body[string(alice.UserID)].([]any); !slices.Contains(rooms, any(string(newRoom))) || !slices.Contains(rooms, any(string(old))) {
			t.Errorf("bob's m.direct = %s, want the old and the new room", direct.raw)
		}
		// Joining again changes nothing more.
		tag(bobTok, bob.UserID, newRoom, "u.later")
		must[*mautrix.RespJoinRoom](t, "bob joins again")(bob.JoinRoomByID(ctx, newRoom))
		if got := tags(bobTok, bob.UserID, newRoom); !slices.Equal(got, []string{"m.favourite", "u.later"}) {
			t.Errorf("bob's tags after joining again = %v", got)
		}
	})
}

// A room that names a predecessor whose tombstone does not point to it
// (anyone may set creation_content.predecessor) gets none of the joiner's
// settings of that room.
func TestUpgradeCarryOverNeedsTheTombstone(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		mine := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})).RoomID
		e.expect(e.do("PUT", "/_matrix/client/v3/user/"+url.PathEscape(string(alice.UserID))+"/rooms/"+url.PathEscape(string(mine))+"/tags/m.favourite", aliceTok, map[string]any{}), http.StatusOK, "")
		spoof := must[*mautrix.RespCreateRoom](t, "create")(bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", CreationContent: map[string]any{"predecessor": map[string]any{"room_id": string(mine)}},
		})).RoomID
		must[*mautrix.RespJoinRoom](t, "alice joins")(alice.JoinRoomByID(ctx, spoof))
		res := e.do("GET", "/_matrix/client/v3/user/"+url.PathEscape(string(alice.UserID))+"/rooms/"+url.PathEscape(string(spoof))+"/tags", aliceTok, nil)
		e.expect(res, http.StatusOK, "")
		if tags, _ := res.body["tags"].(map[string]any); len(tags) != 0 {
			t.Errorf("the spoofing room got alice's tags: %s", res.raw)
		}
	})
}
