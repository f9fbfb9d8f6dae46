package clientapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestForgetRoomPersists checks that POST /rooms/{roomId}/forget records
// the forget, and that rejoining ends it (leaving.yaml forgetRoom; Leaving
// rooms: forgotten rooms return once the user re-joins).
func TestForgetRoomPersists(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
	roomID := id.RoomID(r.RoomID)
	forgotten := func() []id.RoomID {
		t.Helper()
		rooms, err := e.db.ForgottenRooms(ctx, id.UserID(bob.UserID))
		if err != nil {
			t.Fatalf("ForgottenRooms: %v", err)
		}
		return rooms
	}

	// A room bob was never in: nothing to forget, nothing recorded.
	must[*mautrix.RespForgetRoom](t, "forget a room never joined")(bob.ForgetRoom(ctx, r.RoomID))
	if got := forgotten(); len(got) != 0 {
		t.Fatalf("forgotten after forgetting a room never joined = %v, want none", got)
	}

	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
	_, err := bob.ForgetRoom(ctx, r.RoomID)
	wantErr(t, "forget while joined", err, 400, "M_UNKNOWN")
	must[*mautrix.RespLeaveRoom](t, "leave")(bob.LeaveRoom(ctx, r.RoomID))
	must[*mautrix.RespForgetRoom](t, "forget")(bob.ForgetRoom(ctx, r.RoomID))
	if got, want := forgotten(), []id.RoomID{roomID}; !slices.Equal(got, want) {
		t.Fatalf("forgotten after forget = %v, want %v", got, want)
	}

	must[*mautrix.RespJoinRoom](t, "rejoin")(bob.JoinRoomByID(ctx, r.RoomID))
	if got := forgotten(); len(got) != 0 {
		t.Errorf("forgotten after rejoining = %v, want none", got)
	}
}

// TestKickNeedsTheKickeeInTheRoom checks kicking.yaml's 403 "the kickee is
// not currently in the room": a user who never joined, who left or who is
// banned cannot be kicked, and nothing is written; an invited user can be
// (the invite is revoked). /unban of a user who is not banned is refused
// the same way, and /ban of a user who never joined is allowed (banning.yaml
// requires only the banner to be in the room).
func TestKickNeedsTheKickeeInTheRoom(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		dave, _ := e.user("dave")
		erin, _ := e.user("erin")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		roomID := id.RoomID(r.RoomID)
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
		must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, r.RoomID))
		must[*mautrix.RespBanUser](t, "ban dave")(alice.BanUser(ctx, r.RoomID, &mautrix.ReqBanUser{UserID: dave.UserID}))

		refused := []struct {
			name string
			call func() error
		}{
			{"kick a user who never joined", func() error {
				_, err := alice.KickUser(ctx, r.RoomID, &mautrix.ReqKickUser{UserID: carol.UserID})
				return err
			}},
			{"kick a user who left", func() error {
				_, err := alice.KickUser(ctx, r.RoomID, &mautrix.ReqKickUser{UserID: bob.UserID})
				return err
			}},
			{"kick a banned user", func() error {
				_, err := alice.KickUser(ctx, r.RoomID, &mautrix.ReqKickUser{UserID: dave.UserID})
				return err
			}},
			{"unban a user who is not banned", func() error {
				_, err := alice.UnbanUser(ctx, r.RoomID, &mautrix.ReqUnbanUser{UserID: bob.UserID})
				return err
			}},
		}
		for _, tc := range refused {
			before := must[int64](t, "stream position")(e.db.MaxStreamPos(ctx))
			wantErr(t, tc.name, tc.call(), 403, "M_FORBIDDEN")
			if after := must[int64](t, "stream position")(e.db.MaxStreamPos(ctx)); after != before {
				t.Errorf("%s wrote events: stream position %d → %d", tc.name, before, after)
			}
		}
		if _, err := e.db.Membership(ctx, roomID, id.UserID(carol.UserID)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("carol's membership after the refused kick: %v, want none", err)
		}
		if m := must[store.Member](t, "dave's membership")(e.db.Membership(ctx, roomID, id.UserID(dave.UserID))); m.Membership != "ban" {
			t.Errorf("dave's membership after the refused kick = %s, want ban", m.Membership)
		}

		must[*mautrix.RespInviteUser](t, "invite erin")(alice.InviteUser(ctx, r.RoomID, &mautrix.ReqInviteUser{UserID: erin.UserID}))
		must[*mautrix.RespKickUser](t, "revoke erin's invite")(alice.KickUser(ctx, r.RoomID, &mautrix.ReqKickUser{UserID: erin.UserID}))
		if m := must[store.Member](t, "erin's membership")(e.db.Membership(ctx, roomID, id.UserID(erin.UserID))); m.Membership != "leave" {
			t.Errorf("erin's membership after the kick = %s, want leave", m.Membership)
		}
		must[*mautrix.RespBanUser](t, "ban carol, who never joined")(alice.BanUser(ctx, r.RoomID, &mautrix.ReqBanUser{UserID: carol.UserID}))
	})
}

// An invite of a local user carries the invitee's display name and
// avatar, as their join will, so the room shows who is invited by name;
// invites made with createRoom too.
func TestInviteCarriesInviteeProfile(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, bobTok := e.user("bob")
		carol, carolTok := e.user("carol")
		for tok, u := range map[string]string{bobTok: string(bob.UserID), carolTok: string(carol.UserID)} {
			e.expect(e.do("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(u)+"/displayname", tok, map[string]any{"displayname": "Name of " + u}), http.StatusOK, "")
		}
		e.drainProfiles()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []mid.UserID{carol.UserID}}))
		must[*mautrix.RespInviteUser](t, "invite bob")(alice.InviteUser(ctx, r.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}))
		for _, u := range []mid.UserID{bob.UserID, carol.UserID} {
			got := stateContent(t, alice, r.RoomID, "m.room.member", string(u))
			if got["membership"] != "invite" || got["displayname"] != "Name of "+string(u) {
				t.Errorf("invite of %s = %v, want the invitee's display name", u, got)
			}
		}
	})
}

// TestForgottenRoomHistoryUnreadable: leaving.yaml forgetRoom: "After this
// API is called, however, a user will no longer be able to retrieve
// history for this room." Bob reads (and searches) the room he left until
// he forgets it; then every read is refused as for someone never in the
// room, and search leaves the room out, until he is invited again.
func TestForgottenRoomHistoryUnreadable(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		bob, bobTok := e.user("bob")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "private_chat", Name: "secret room", Invite: []mid.UserID{bob.UserID}}))
		must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
		msg := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "zeppelin before the leave")).EventID
		must[*mautrix.RespLeaveRoom](t, "leave")(bob.LeaveRoom(ctx, r.RoomID))
		room := "/_matrix/client/v3/rooms/" + url.PathEscape(string(r.RoomID))
		reads := []string{
			room + "/messages?dir=b",
			room + "/event/" + url.PathEscape(string(msg)),
			room + "/context/" + url.PathEscape(string(msg)),
			room + "/state/m.room.name",
			room + "/members",
		}
		for _, p := range reads {
			e.expect(e.do("GET", p, bobTok, nil), 200, "")
		}
		found := func() int {
			res := must[*mautrix.RespSearch](t, "search")(bob.Search(ctx, &mautrix.ReqSearch{SearchTerm: "zeppelin"}))
			return len(res.Results)
		}
		if n := found(); n != 1 {
			t.Errorf("bob finds %d messages of the room he left, want 1", n)
		}
		must[*mautrix.RespForgetRoom](t, "forget")(bob.ForgetRoom(ctx, r.RoomID))
		if n := found(); n != 0 {
			t.Errorf("bob finds %d messages of the room he forgot, want none", n)
		}
		for _, p := range reads {
			if res := e.do("GET", p, bobTok, nil); res.status != 403 && res.status != 404 {
				t.Errorf("GET %s after forgetting: %d %s, want refused", p, res.status, res.raw)
			}
		}
		must[*mautrix.RespInviteUser](t, "invite again")(alice.InviteUser(ctx, r.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}))
		must[*mautrix.RespJoinRoom](t, "rejoin")(bob.JoinRoomByID(ctx, r.RoomID))
		e.expect(e.do("GET", reads[0], bobTok, nil), 200, "")
	})
}
