package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestFederationInviteEndToEnd lets bob of B invite carol of A into a
// room both servers are in: A signs the invite, and once B sends it to the
// room, carol's sync shows it. Invites that do not match, of unknown
// users or of unsupported versions are refused; one into a room A knows
// but has no user in is taken as an invite from outside.
func TestFederationInviteEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := newFedPeer(t, startFedServer(t))
			alice := register(t, a.base, "alice")
			carol := register(t, a.base, "carol")
			tok := alice.AccessToken
			// Anyone in the room may invite.
			var cr struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, tok, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
				"preset": "public_chat", "power_level_content_override": map[string]any{"invite": 0},
			}, &cr)
			roomID := cr.RoomID
			rq := url.PathEscape(string(roomID))
			bob := id.UserID("@bob:" + string(b.name))
			joinOverSend(t, a, b, tok, roomID, bob)

			rv := viewRoom(t, a.base, tok, roomID)
			invite := func(target string, content string) (path string, body map[string]any, eventID id.EventID) {
				ev := b.build(t, rv, bob, "m.room.member", &target, content)
				return "/_matrix/federation/v2/invite/" + rq + "/" + url.PathEscape(string(ev.EventID())),
					map[string]any{"room_version": string(rv.v.ID), "event": json.RawMessage(ev.JSON()), "invite_room_state": []any{}}, ev.EventID()
			}

			// Refusals.
			path, body, _ := invite(carol.UserID.String(), `{"membership":"invite"}`)
			body["room_version"] = "999"
			if st, code := b.fedGet(t, a.name, "PUT", path, body, nil); st != 400 || code != "M_INCOMPATIBLE_ROOM_VERSION" {
				t.Errorf("invite of an unknown room version = %d %s, want 400 M_INCOMPATIBLE_ROOM_VERSION", st, code)
			}
			path, body, _ = invite(carol.UserID.String(), `{"membership":"join"}`)
			if st, code := b.fedGet(t, a.name, "PUT", path, body, nil); st != 400 || code != "M_INVALID_PARAM" {
				t.Errorf("invite whose membership is join = %d %s, want 400 M_INVALID_PARAM", st, code)
			}
			path, body, _ = invite("@nobody:"+string(a.name), `{"membership":"invite"}`)
			if st, code := b.fedGet(t, a.name, "PUT", path, body, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("invite of an unknown user = %d %s, want 403 M_FORBIDDEN", st, code)
			}

			// The invite.
			path, body, eventID := invite(carol.UserID.String(), `{"membership":"invite"}`)
			var signed struct {
				Event json.RawMessage `json:"event"`
			}
			if st, code := b.fedGet(t, a.name, "PUT", path, body, &signed); st != 200 {
				t.Fatalf("invite = %d %s", st, code)
			}
			var sigs struct {
				Signatures map[id.ServerName]map[string]string `json:"signatures"`
			}
			json.Unmarshal(signed.Event, &sigs)
			if len(sigs.Signatures[a.name]) != 1 || len(sigs.Signatures[b.name]) != 1 {
				t.Fatalf("signed invite carries signatures of %v, want A and B", sigs.Signatures)
			}
			ans := sendOK(t, b, a.name, "invite", signed.Event)
			if r := ans.PDUs[eventID]; r.Error != nil {
				t.Fatalf("invite over /send: %s", *r.Error)
			}
			var syncResp struct {
				Rooms struct {
					Invite map[id.RoomID]json.RawMessage `json:"invite"`
				} `json:"rooms"`
			}
			csCall(t, a.base, carol.AccessToken, http.MethodGet, "/_matrix/client/v3/sync?timeout=0", nil, &syncResp)
			if _, ok := syncResp.Rooms.Invite[roomID]; !ok {
				t.Errorf("carol's sync has no invite to %s: %v", roomID, syncResp.Rooms.Invite)
			}

			// A room A knows but has no user in any more: the invite is
			// taken like one to a room A does not know, and shown.
			left := createPublicRoom(t, a.base, tok)
			rvLeft := viewRoom(t, a.base, tok, left)
			csCall(t, a.base, tok, http.MethodPost, "/_matrix/client/v3/rooms/"+url.PathEscape(string(left))+"/leave", map[string]any{}, &struct{}{})
			carolKey := carol.UserID.String()
			ev := b.build(t, rvLeft, bob, "m.room.member", &carolKey, `{"membership":"invite"}`)
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/invite/"+url.PathEscape(string(left))+"/"+url.PathEscape(string(ev.EventID())),
				map[string]any{"room_version": string(rvLeft.v.ID), "event": json.RawMessage(ev.JSON())}, nil); st != 200 {
				t.Errorf("invite into a room A is not in = %d %s, want 200", st, code)
			}
			syncResp.Rooms.Invite = nil
			csCall(t, a.base, carol.AccessToken, http.MethodGet, "/_matrix/client/v3/sync?timeout=0", nil, &syncResp)
			if _, ok := syncResp.Rooms.Invite[left]; !ok {
				t.Errorf("carol's sync has no invite to %s, a room A has no user in: %v", left, syncResp.Rooms.Invite)
			}
		})
	}
}

// TestRemoteInvitesEndToEnd: users of two servers invite each other into
// rooms only the inviter's server is in (by /invite and by createRoom's
// invite list). The invitee's server signs and stores the invite, the
// invitee's sync (initial and incremental) shows it with the room's
// stripped state, and the invitee joins through the inviting server,
// after which messages go both ways.
func TestRemoteInvitesEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			ctx := t.Context()
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			bw := newWatcher(bob)
			bw.poll(t)

			// alice of A invites bob of B with /invite.
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Harbour office"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := alice.InviteUser(ctx, created.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
				t.Fatalf("invite of a user of B: %v", err)
			}
			bw.waitInvite(t, created.RoomID)
			initial, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			inv := initial.Rooms.Invite[created.RoomID]
			if inv == nil || !hasState(inv.State.Events, "m.room.name") || !hasState(inv.State.Events, "m.room.member") {
				t.Fatalf("bob's initial sync lacks the invite with its stripped state: %+v", inv)
			}
			// The room ID (version 12) names no server: bob joins through
			// the inviting one.
			if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatalf("bob accepts the invite: %v", err)
			}
			bw.waitMember(t, created.RoomID, bob.UserID, "join")
			aw := newWatcher(alice)
			sendText(t, bob, created.RoomID, "bob accepted")
			aw.waitMessage(t, created.RoomID, "bob accepted")
			sendText(t, alice, created.RoomID, "welcome bob")
			bw.waitMessage(t, created.RoomID, "welcome bob")

			// bob of B invites alice of A in createRoom.
			direct, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []mid.UserID{alice.UserID}})
			if err != nil {
				t.Fatalf("createRoom inviting a user of A: %v", err)
			}
			aw.waitInvite(t, direct.RoomID)
			if _, err := alice.JoinRoomByID(ctx, direct.RoomID); err != nil {
				t.Fatalf("alice accepts the invite: %v", err)
			}
			sendText(t, alice, direct.RoomID, "alice accepted")
			bw.waitMessage(t, direct.RoomID, "alice accepted")

			// bob rejects an invite into a room B is not in: through A
			// (make_leave, send_leave); alice sees the rejection, and
			// bob's sync moves the room from invites to leaves.
			declined, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Declined", Invite: []mid.UserID{bob.UserID}})
			if err != nil {
				t.Fatal(err)
			}
			bw.waitInvite(t, declined.RoomID)
			if _, err := bob.LeaveRoom(ctx, declined.RoomID); err != nil {
				t.Fatalf("bob rejects the invite: %v", err)
			}
			aw.waitMember(t, declined.RoomID, bob.UserID, "leave")
			bw.waitLeave(t, declined.RoomID)
			if _, err := bob.LeaveRoom(ctx, "!nosuchroom:"+mid.RoomID(a.name)); err == nil {
				t.Errorf("leaving a room bob was never invited to succeeded")
			}

			// An invite revoked before bob rejects it: A refuses the leave
			// (bob is no longer invited there), so B rejects it locally
			// and bob is not stuck with it.
			revoked, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Revoked", Invite: []mid.UserID{bob.UserID}})
			if err != nil {
				t.Fatal(err)
			}
			bw.waitInvite(t, revoked.RoomID)
			if _, err := alice.KickUser(ctx, revoked.RoomID, &mautrix.ReqKickUser{UserID: bob.UserID}); err != nil {
				t.Fatalf("alice revokes the invite: %v", err)
			}
			if _, err := bob.LeaveRoom(ctx, revoked.RoomID); err != nil {
				t.Fatalf("bob rejects a revoked invite: %v", err)
			}
			bw.waitLeave(t, revoked.RoomID)
			if _, err := bob.LeaveRoom(ctx, revoked.RoomID); err == nil {
				t.Errorf("rejecting the same invite twice succeeded")
			}

			// bob forgets the rejected invites: rooms B is not in, known
			// only by bob's membership. Sync with include_leave no longer
			// shows them; forgetting a room never heard of does nothing.
			for _, r := range []mid.RoomID{declined.RoomID, revoked.RoomID, "!nosuchroom:" + mid.RoomID(a.name)} {
				if _, err := bob.ForgetRoom(ctx, r); err != nil {
					t.Errorf("bob forgets %s: %v", r, err)
				}
			}
			f := `{"room":{"include_leave":true}}`
			resp, err := bob.SyncRequest(ctx, 0, "", f, false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []mid.RoomID{declined.RoomID, revoked.RoomID} {
				if _, ok := resp.Rooms.Leave[r]; ok {
					t.Errorf("forgotten room %s still in rooms.leave", r)
				}
			}
		})
	}
}
