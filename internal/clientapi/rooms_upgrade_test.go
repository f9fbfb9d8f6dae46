package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// stateContent returns a state event's content as a map (nil if absent).
func stateContent(t *testing.T, cli *mautrix.Client, roomID mid.RoomID, typ, stateKey string) map[string]any {
	t.Helper()
	var c map[string]any
	if err := cli.StateEvent(context.Background(), roomID, mevent.Type{Type: typ, Class: mevent.StateEventType}, stateKey, &c); err != nil {
		return nil
	}
	return c
}

// TestUpgradeRoom upgrades rooms through the router with the mautrix
// client, on every backend: the new room's create event and copied state,
// power levels for creators of v12 and for a moderator who gets the power
// to copy only for the copy, invites carried over, the tombstone and the
// old room closed to ordinary members, and the refusals.
func TestUpgradeRoom(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		carol, _ := e.user("carol")
		_, eveTok := e.user("eve")
		old := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", RoomVersion: "10", Name: "Old room", Topic: "about things", RoomAliasName: "oldroom",
			CreationContent: map[string]any{"type": "org.example.kind"},
			InitialState: []*mevent.Event{
				{Type: mevent.StateEncryption, StateKey: ptr(""), Content: mevent.Content{Raw: map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}},
				{Type: mevent.Type{Type: "org.example.custom", Class: mevent.StateEventType}, StateKey: ptr(""), Content: mevent.Content{Raw: map[string]any{"x": 1}}},
			},
		})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, old))
		must[*mautrix.RespInviteUser](t, "invite carol")(alice.InviteUser(ctx, old, &mautrix.ReqInviteUser{UserID: carol.UserID}))
		// Carol's profile changes after her invite: the new room's invite
		// shows it as it is now.
		if err := carol.SetDisplayName(ctx, "Carol Upgraded"); err != nil {
			t.Fatalf("carol sets her display name: %v", err)
		}
		path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(old)) + "/upgrade"

		// Refused.
		e.expect(e.do("POST", path, bobTok, map[string]any{"new_version": "11"}), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("POST", path, eveTok, map[string]any{"new_version": "11"}), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("POST", path, aliceTok, map[string]any{"new_version": "99"}), http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION")
		e.expect(e.do("POST", path, aliceTok, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("POST", path, aliceTok, map[string]any{"new_version": "12", "additional_creators": []string{"bob"}}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", path, aliceTok, `{"new_version":`), http.StatusBadRequest, "M_NOT_JSON")
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape("!unknown:hafen.test")+"/upgrade", aliceTok, map[string]any{"new_version": "11"}), http.StatusNotFound, "M_NOT_FOUND")

		// v10 → v12 with bob as an additional creator.
		up := e.do("POST", path, aliceTok, map[string]any{"new_version": "12", "additional_creators": []string{string(bob.UserID)}})
		e.expect(up, http.StatusOK, "")
		newRoom := mid.RoomID(up.str("replacement_room"))
		create := stateContent(t, alice, newRoom, "m.room.create", "")
		pred, _ := create["predecessor"].(map[string]any)
		if create["room_version"] != "12" || pred["room_id"] != string(old) || create["type"] != "org.example.kind" {
			t.Errorf("new create content = %v", create)
		}
		if ac, _ := create["additional_creators"].([]any); len(ac) != 1 || ac[0] != string(bob.UserID) {
			t.Errorf("additional_creators = %v", create["additional_creators"])
		}
		if n := stateContent(t, alice, newRoom, "m.room.name", ""); n["name"] != "Old room" {
			t.Errorf("name not copied: %v", n)
		}
		if n := stateContent(t, alice, newRoom, "m.room.topic", ""); n["topic"] != "about things" {
			t.Errorf("topic not copied: %v", n)
		}
		if n := stateContent(t, alice, newRoom, "m.room.encryption", ""); n["algorithm"] != "m.megolm.v1.aes-sha2" {
			t.Errorf("encryption not copied: %v", n)
		}
		if n := stateContent(t, alice, newRoom, "m.room.join_rules", ""); n["join_rule"] != "public" {
			t.Errorf("join rules not copied: %v", n)
		}
		if n := stateContent(t, alice, newRoom, "org.example.custom", ""); n != nil {
			t.Errorf("custom state copied: %v", n)
		}
		pl := stateContent(t, alice, newRoom, "m.room.power_levels", "")
		if users, _ := pl["users"].(map[string]any); users[string(alice.UserID)] != nil || users[string(bob.UserID)] != nil {
			t.Errorf("v12 power levels list creators: %v", pl["users"])
		}
		// The invite carries carol's profile, as createRoom's invites do.
		if m := stateContent(t, alice, newRoom, "m.room.member", string(carol.UserID)); m["membership"] != "invite" || m["displayname"] != "Carol Upgraded" {
			t.Errorf("carol's membership of the new room = %v, want invite with her display name", m)
		}
		if res, err := alice.ResolveAlias(ctx, "#oldroom:hafen.test"); err != nil || res.RoomID != newRoom {
			t.Errorf("#oldroom resolves to %v (%v), want the new room %s", res, err, newRoom)
		}
		if ca := stateContent(t, alice, newRoom, "m.room.canonical_alias", ""); ca["alias"] != "#oldroom:hafen.test" {
			t.Errorf("new room's canonical alias = %v", ca)
		}
		tomb := stateContent(t, alice, old, "m.room.tombstone", "")
		if tomb["replacement_room"] != string(newRoom) {
			t.Errorf("tombstone = %v", tomb)
		}
		oldPL := stateContent(t, alice, old, "m.room.power_levels", "")
		if oldPL["events_default"] != float64(50) || oldPL["invite"] != float64(50) {
			t.Errorf("old room's power levels not restricted: %v", oldPL)
		}
		_, err := bob.SendText(ctx, old, "still here?")
		wantErr(t, "bob sends to the old room", err, http.StatusForbidden, "M_FORBIDDEN")

		// A moderator allowed to send tombstones but not power levels gets
		// the power to copy them only while the room is built.
		mod := must[*mautrix.RespCreateRoom](t, "create v10")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "10"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, mod))
		levels := stateContent(t, alice, mod, "m.room.power_levels", "")
		levels["users"].(map[string]any)[string(bob.UserID)] = 60
		levels["events"].(map[string]any)["m.room.tombstone"] = 60
		must[*mautrix.RespSendEvent](t, "levels")(alice.SendStateEvent(ctx, mod, mevent.StatePowerLevels, "", levels))
		up2 := e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(string(mod))+"/upgrade", bobTok, map[string]any{"new_version": "10"})
		e.expect(up2, http.StatusOK, "")
		modNew := mid.RoomID(up2.str("replacement_room"))
		create2 := stateContent(t, bob, modNew, "m.room.create", "")
		pred2, _ := create2["predecessor"].(map[string]any)
		if pred2["room_id"] != string(mod) || pred2["event_id"] == nil || create2["type"] != nil {
			t.Errorf("v10 create content = %v", create2)
		}
		pl2 := stateContent(t, bob, modNew, "m.room.power_levels", "")
		users2, _ := pl2["users"].(map[string]any)
		if users2[string(bob.UserID)] != float64(60) || users2[string(alice.UserID)] != float64(100) {
			b, _ := json.Marshal(pl2)
			t.Errorf("new power levels = %s, want bob back at 60 and alice at 100", b)
		}
		// Bob could send the tombstone but not power levels: the old
		// room's levels stay as they were.
		if p := stateContent(t, alice, mod, "m.room.power_levels", ""); p["events_default"] != float64(0) {
			t.Errorf("old levels changed by a user without the power: %v", p)
		}
	})
}

// TestUpgradeRoomMovesCanonicalAlias follows "Room Upgrades", server
// behaviour 4 (local aliases move to the new room): the new room takes
// the canonical alias event, and the old room's m.room.canonical_alias no
// longer names the moved aliases (alias nor alt_aliases), which now point
// elsewhere; its other keys stay.
func TestUpgradeRoomMovesCanonicalAlias(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		old := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", RoomVersion: "11", RoomAliasName: "main"})).RoomID
		must[*mautrix.RespAliasCreate](t, "second alias")(alice.CreateAlias(ctx, "#second:hafen.test", old))
		canonical := map[string]any{"alias": "#main:hafen.test", "alt_aliases": []any{"#second:hafen.test"}, "org.example.note": "kept"}
		must[*mautrix.RespSendEvent](t, "canonical alias")(alice.SendStateEvent(ctx, old, mevent.StateCanonicalAlias, "", canonical))

		up := e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(string(old))+"/upgrade", aliceTok, map[string]any{"new_version": "12"})
		e.expect(up, http.StatusOK, "")
		newRoom := mid.RoomID(up.str("replacement_room"))
		for _, alias := range []mid.RoomAlias{"#main:hafen.test", "#second:hafen.test"} {
			if res, err := alice.ResolveAlias(ctx, alias); err != nil || res.RoomID != newRoom {
				t.Errorf("%s resolves to %v (%v), want the new room %s", alias, res, err, newRoom)
			}
		}
		if got := stateContent(t, alice, newRoom, "m.room.canonical_alias", ""); !jsonEqual(got, canonical) {
			t.Errorf("new room's canonical alias = %v, want %v", got, canonical)
		}
		if got, want := stateContent(t, alice, old, "m.room.canonical_alias", ""), map[string]any{"org.example.note": "kept"}; !jsonEqual(got, want) {
			t.Errorf("old room's canonical alias = %v, want %v", got, want)
		}
	})
}
