package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
)

// TestRoomSummary follows GET /_matrix/client/v1/room_summary (spec
// v1.15) through the router, on every backend: a public room by alias
// and by ID, with the requester's membership when they have one; an
// invite-only room only for its members and invitees; a restricted room
// for members of the allowed room; unknown rooms and rooms one may not
// see alike 404 M_NOT_FOUND; malformed parameters 400.
func TestRoomSummary(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		summary := func(target, token string) resp {
			return e.do("GET", "/_matrix/client/v1/room_summary/"+url.PathEscape(target), token, nil)
		}

		lobby := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", RoomVersion: "11", Name: "Lobby", Topic: "say hello", RoomAliasName: "lobby",
			CreationContent: map[string]any{"type": "m.space"},
			InitialState: []*mevent.Event{{Type: mevent.StateEncryption, StateKey: ptr(""),
				Content: mevent.Content{Raw: map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}},
		})).RoomID
		want := map[string]any{
			"room_id": string(lobby), "name": "Lobby", "topic": "say hello", "canonical_alias": "#lobby:hafen.test",
			"num_joined_members": 1, "world_readable": false, "guest_can_join": false, "join_rule": "public",
			"room_type": "m.space", "room_version": "11", "encryption": "m.megolm.v1.aes-sha2",
		}
		for _, target := range []string{"#lobby:hafen.test", string(lobby)} {
			got := summary(target, bobTok)
			e.expect(got, http.StatusOK, "")
			if !jsonEqual(got.body, want) {
				t.Errorf("summary of %s for bob = %s, want %v", target, got.raw, want)
			}
		}
		if got := summary(string(lobby), aliceTok); got.str("membership") != "join" {
			t.Errorf("alice's summary = %s, want membership join", got.raw)
		}
		// The MSC3266 path matrix-js-sdk asks answers the same.
		if got := e.do("GET", "/_matrix/client/unstable/im.nheko.summary/summary/"+url.PathEscape(string(lobby)), bobTok, nil); !jsonEqual(got.body, want) {
			t.Errorf("summary through the unstable path = %d %s", got.status, got.raw)
		}

		// Invite-only: members and invitees only.
		private := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Secret"})).RoomID
		e.expect(summary(string(private), bobTok), http.StatusNotFound, "M_NOT_FOUND")
		must[*mautrix.RespInviteUser](t, "invite")(alice.InviteUser(ctx, private, &mautrix.ReqInviteUser{UserID: bob.UserID}))
		if got := summary(string(private), bobTok); got.status != http.StatusOK || got.str("membership") != "invite" || got.str("name") != "Secret" {
			t.Errorf("invitee's summary = %d %s", got.status, got.raw)
		}

		// Restricted to the lobby's members.
		restricted := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "private_chat", RoomVersion: "11",
			InitialState: []*mevent.Event{{Type: mevent.StateJoinRules, StateKey: ptr(""), Content: mevent.Content{Raw: map[string]any{
				"join_rule": "restricted", "allow": []any{map[string]any{"type": "m.room_membership", "room_id": string(lobby)}}}}}},
		})).RoomID
		e.expect(summary(string(restricted), bobTok), http.StatusNotFound, "M_NOT_FOUND")
		must[*mautrix.RespJoinRoom](t, "bob joins the lobby")(bob.JoinRoomByID(ctx, lobby))
		got := summary(string(restricted), bobTok)
		e.expect(got, http.StatusOK, "")
		if ids, _ := got.body["allowed_room_ids"].([]any); len(ids) != 1 || ids[0] != string(lobby) || got.body["membership"] != nil {
			t.Errorf("restricted room's summary = %s", got.raw)
		}

		// Refused.
		e.expect(summary("!unknown:hafen.test", bobTok), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(summary("#unknown:hafen.test", bobTok), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(summary("lobby", bobTok), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v1/room_summary/"+url.PathEscape(string(lobby))+"?via=bad%20server", bobTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(summary(string(lobby), ""), http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}
