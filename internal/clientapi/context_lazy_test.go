package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mid "maunium.net/go/mautrix/id"
)

// TestContextLazyLoadMembers: /context with lazy_load_members gives, of
// the member events, only those of the senders of the events returned
// (events_before, the event, events_after), with the rest of the state;
// with include_redundant_members too. Without it, every member. Spec:
// Client-Server API § Lazy-loading room members (/context is among the
// endpoints that support it).
func TestContextLazyLoadMembers(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		dave, _ := e.user("dave")
		erin, _ := e.user("erin")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		for _, u := range []*mautrix.Client{bob, carol, dave, erin} {
			must[*mautrix.RespJoinRoom](t, "join")(u.JoinRoomByID(ctx, roomID))
		}
		say := func(cli *mautrix.Client, body string) mid.EventID {
			t.Helper()
			return must[*mautrix.RespSendEvent](t, "send")(cli.SendText(ctx, roomID, body)).EventID
		}
		say(erin, "erin, out of reach")
		say(bob, "bob, before")
		target := say(carol, "carol, the event")
		say(dave, "dave, after")
		say(erin, "erin, out of reach again")

		members := func(filter string, limit string) ([]string, bool) {
			t.Helper()
			path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(roomID)) + "/context/" + url.PathEscape(string(target)) + "?limit=" + limit
			if filter != "" {
				path += "&filter=" + url.QueryEscape(filter)
			}
			res := e.do("GET", path, aliceTok, nil)
			e.expect(res, http.StatusOK, "")
			var out []string
			create := false
			state, _ := res.body["state"].([]any)
			for _, raw := range state {
				ev, _ := raw.(map[string]any)
				switch ev["type"] {
				case "m.room.member":
					sk, _ := ev["state_key"].(string)
					out = append(out, sk)
				case "m.room.create":
					create = true
				}
			}
			slices.Sort(out)
			return out, create
		}
		senders := []string{string(bob.UserID), string(carol.UserID), string(dave.UserID)}
		slices.Sort(senders)
		for _, f := range []string{`{"lazy_load_members":true}`, `{"lazy_load_members":true,"include_redundant_members":true}`} {
			got, create := members(f, "2")
			if !slices.Equal(got, senders) || !create {
				t.Errorf("filter %s: members %v (create event %v), want %v and the rest of the state", f, got, create, senders)
			}
		}
		if got, _ := members(`{"lazy_load_members":true}`, "0"); !slices.Equal(got, []string{string(carol.UserID)}) {
			t.Errorf("limit=0, lazy: members %v, want only carol", got)
		}
		if got, _ := members("", "2"); len(got) != 5 {
			t.Errorf("without lazy loading: members %v, want all five", got)
		}
	})
}
