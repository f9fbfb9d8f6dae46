package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
)

// TestMessagesLazyLoadMembers: /messages with lazy_load_members gives the
// page's senders' member events as of the page (the state just after its
// first event), never the current ones: a page of history names its
// senders as they were then, and a user who left sees nothing of what came
// after. Spec: Client-Server API § Lazy-loading room members, and
// § History visibility ("no events received after they left").
func TestMessagesLazyLoadMembers(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		carol, carolTok := e.user("carol")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat",
			InitialState: []*mevent.Event{{Type: mevent.StateHistoryVisibility, StateKey: ptr(""),
				Content: mevent.Content{Raw: map[string]any{"history_visibility": "joined"}}}},
		})).RoomID
		room := url.PathEscape(string(roomID))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		setName := func(name string) {
			t.Helper()
			e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+room+"/state/m.room.member/"+url.PathEscape(string(bob.UserID)), bobTok,
				map[string]any{"membership": "join", "displayname": name}), http.StatusOK, "")
		}
		setName("Bob Old")
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespSendEvent](t, "send")(bob.SendText(ctx, roomID, "bob before"))
		must[*mautrix.RespLeaveRoom](t, "carol leaves")(carol.LeaveRoom(ctx, roomID))
		setName("Secret after carol left")

		lazy := url.QueryEscape(`{"lazy_load_members":true}`)
		bobIn := func(res resp) string {
			t.Helper()
			e.expect(res, http.StatusOK, "")
			name := ""
			for _, raw := range res.body["state"].([]any) {
				ev := raw.(map[string]any)
				if ev["type"] == "m.room.member" && ev["state_key"] == string(bob.UserID) {
					name, _ = ev["content"].(map[string]any)["displayname"].(string)
				}
			}
			return name
		}
		if got := bobIn(e.do("GET", "/_matrix/client/v3/rooms/"+room+"/messages?dir=b&filter="+lazy, carolTok, nil)); got != "Bob Old" {
			t.Errorf("carol, who left, sees bob as %q, want Bob Old", got)
		}
		first := e.do("GET", "/_matrix/client/v3/rooms/"+room+"/messages?dir=b&limit=2&filter="+lazy, aliceTok, nil)
		if got := bobIn(first); got != "Secret after carol left" {
			t.Errorf("alice's newest page shows bob as %q", got)
		}
		older := e.do("GET", "/_matrix/client/v3/rooms/"+room+"/messages?dir=b&limit=2&filter="+lazy+"&from="+url.QueryEscape(first.str("end")), aliceTok, nil)
		if got := bobIn(older); got != "Bob Old" {
			t.Errorf("alice's older page shows bob as %q, want Bob Old", got)
		}
	})
}
