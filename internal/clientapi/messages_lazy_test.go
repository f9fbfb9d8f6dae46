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
// newest event), never the current ones: a page of history names its
// senders as they were then, and a user who left sees nothing of what came
// after (nor an end token to page on past their leave). Spec: Client-Server API § Lazy-loading room members, and
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
		// Forwards from the room's start, bob joins within the page: his
		// member event comes as of the page's newest event.
		noMembers := url.QueryEscape(`{"lazy_load_members":true,"not_types":["m.room.member"]}`)
		if got := bobIn(e.do("GET", "/_matrix/client/v3/rooms/"+room+"/messages?dir=f&filter="+noMembers, aliceTok, nil)); got != "Bob Old" {
			t.Errorf("alice's forward page shows bob as %q, want Bob Old", got)
		}
		// carol, who left, reaches her leave going forwards: nothing more
		// is hers to see, so there is no end to go on from.
		fwd := e.do("GET", "/_matrix/client/v3/rooms/"+room+"/messages?dir=f&limit=100", carolTok, nil)
		e.expect(fwd, http.StatusOK, "")
		if end, ok := fwd.body["end"]; ok {
			t.Errorf("carol's forward page up to her leave has end %v, want none", end)
		}
	})
}

// TestMessagesEndToken follows the end of /messages: left out only where
// no further events can come (the start of the room); a page that stopped
// at to, or at the newest event going forwards, carries one to go on from.
func TestMessagesEndToken(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})).RoomID
		for _, body := range []string{"one", "two", "three", "four"} {
			must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, body))
		}
		messages := func(query string) resp {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/messages?"+query, aliceTok, nil)
			e.expect(res, http.StatusOK, "")
			return res
		}
		chunkLen := func(r resp) int { c, _ := r.body["chunk"].([]any); return len(c) }
		newest := messages("dir=b&limit=2")
		older := newest.str("end")
		if older == "" {
			t.Fatal("the newest page has no end")
		}
		// Forwards from there to the newest event: an end to poll on.
		fwd := messages("dir=f&limit=10&from=" + url.QueryEscape(older))
		if chunkLen(fwd) != 2 || fwd.str("end") == "" {
			t.Errorf("forwards to the newest event: %d events, end %q; want 2 and an end", chunkLen(fwd), fwd.str("end"))
		}
		if after := messages("dir=f&from=" + url.QueryEscape(fwd.str("end"))); chunkLen(after) != 0 {
			t.Errorf("after the newest event: %s", after.raw)
		}
		// Backwards from the newest event to older: the page stops at to.
		to := messages("dir=b&limit=10&from=" + url.QueryEscape(newest.str("start")) + "&to=" + url.QueryEscape(older))
		if chunkLen(to) != 2 || to.str("end") == "" {
			t.Errorf("backwards to a token: %d events, end %q; want 2 and an end", chunkLen(to), to.str("end"))
		}
		// Backwards through the creation: no end.
		if all := messages("dir=b&limit=50"); all.str("end") != "" {
			t.Errorf("a page that reached the room's creation has end %q", all.str("end"))
		}
	})
}
