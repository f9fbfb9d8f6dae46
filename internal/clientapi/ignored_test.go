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

	"github.com/hafenchat/hafen/internal/accountdata"
)

// TestIgnoredUsers sets m.ignored_user_list through the router, on every
// backend, and checks that the ignored user's events leave /sync (initial
// and incremental, at once when the list changes), /messages, /context,
// /relations and the bundled aggregations, that their state events stay,
// and that their invites are not shown.
func TestIgnoredUsers(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		// Account data changes reach sync as cmd/hafen wires them.
		e.srv.AccountData.(*accountdata.Service).Changed = e.srv.Sync.AccountDataChanged
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, roomID))
		ignore := func(users ...mid.UserID) {
			t.Helper()
			list := map[string]any{}
			for _, u := range users {
				list[string(u)] = map[string]any{}
			}
			path := "/_matrix/client/v3/user/" + url.PathEscape(string(alice.UserID)) + "/account_data/m.ignored_user_list"
			e.expect(e.do("PUT", path, aliceTok, map[string]any{"ignored_users": list}), http.StatusOK, "")
		}
		ignore(bob.UserID)
		root := must[*mautrix.RespSendEvent](t, "carol")(carol.SendText(ctx, roomID, "carol's root")).EventID
		bobMsg := must[*mautrix.RespSendEvent](t, "bob")(bob.SendText(ctx, roomID, "bob speaks")).EventID
		bobTopic := must[*mautrix.RespSendEvent](t, "bob renames")(bob.SendStateEvent(ctx, roomID, mevent.StateMember, string(bob.UserID), map[string]any{"membership": "join", "displayname": "Bobby"})).EventID
		bobReply := must[*mautrix.RespSendEvent](t, "bob reply")(bob.SendMessageEvent(ctx, roomID, mevent.EventMessage, relatesTo("bob in thread", "m.thread", root, nil))).EventID
		carolReply := must[*mautrix.RespSendEvent](t, "carol reply")(carol.SendMessageEvent(ctx, roomID, mevent.EventMessage, relatesTo("carol in thread", "m.thread", root, nil))).EventID
		carolMsg := must[*mautrix.RespSendEvent](t, "carol")(carol.SendText(ctx, roomID, "carol speaks")).EventID

		msgs := eventIDs(must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 100)).Chunk)
		if slices.Contains(msgs, bobMsg) || slices.Contains(msgs, bobReply) || !slices.Contains(msgs, bobTopic) || !slices.Contains(msgs, carolMsg) {
			t.Errorf("/messages for alice = %v: want no bob message %s or reply %s, his topic %s and carol's %s", msgs, bobMsg, bobReply, bobTopic, carolMsg)
		}
		c := must[*mautrix.RespContext](t, "context")(alice.Context(ctx, roomID, bobTopic, nil, 10))
		for _, ev := range append(c.EventsBefore, c.EventsAfter...) {
			if ev.ID == bobMsg || ev.ID == bobReply {
				t.Errorf("/context shows ignored event %s", ev.ID)
			}
		}
		rels := must[*mautrix.RespGetRelations](t, "relations")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{}))
		if got := eventIDs(rels.Chunk); !slices.Equal(got, []mid.EventID{carolReply}) {
			t.Errorf("/relations for alice = %v, want only carol's reply", got)
		}
		rootEv := must[*mevent.Event](t, "root")(alice.GetEvent(ctx, roomID, root))
		if th := rootEv.Unsigned.Relations.GetThread(); th.GetCount() != 1 || th.GetLatestEvent().ID != carolReply {
			t.Errorf("m.thread for alice = %+v, want carol's reply only", th)
		}

		initial := e.do("GET", "/_matrix/client/v3/sync", aliceTok, nil)
		e.expect(initial, http.StatusOK, "")
		tl, _ := syncRoom(t, initial.body, roomID)["timeline"].(map[string]any)
		events := eventsByID(tl["events"])
		if events[string(bobMsg)] != nil || events[string(carolMsg)] == nil || events[string(bobTopic)] == nil {
			t.Errorf("initial sync timeline: bob's message %v, carol's %v, bob's topic %v", events[string(bobMsg)] != nil, events[string(carolMsg)] != nil, events[string(bobTopic)] != nil)
		}

		// Invites from ignored users are not shown; others are.
		bobRoom := must[*mautrix.RespCreateRoom](t, "bob's room")(bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []mid.UserID{alice.UserID}})).RoomID
		carolRoom := must[*mautrix.RespCreateRoom](t, "carol's room")(carol.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []mid.UserID{alice.UserID}})).RoomID
		bobSays := must[*mautrix.RespSendEvent](t, "bob again")(bob.SendText(ctx, roomID, "bob again")).EventID
		next := e.do("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(initial.str("next_batch")), aliceTok, nil)
		rooms, _ := next.body["rooms"].(map[string]any)
		invites, _ := rooms["invite"].(map[string]any)
		if invites[string(bobRoom)] != nil || invites[string(carolRoom)] == nil {
			t.Errorf("invites in sync: bob's %v, carol's %v", invites[string(bobRoom)] != nil, invites[string(carolRoom)] != nil)
		}
		if join, _ := rooms["join"].(map[string]any); join[string(roomID)] != nil {
			tl, _ := syncRoom(t, next.body, roomID)["timeline"].(map[string]any)
			if eventsByID(tl["events"])[string(bobSays)] != nil {
				t.Errorf("incremental sync shows ignored %s", bobSays)
			}
		}
		initialInvites := e.do("GET", "/_matrix/client/v3/sync", aliceTok, nil)
		rooms, _ = initialInvites.body["rooms"].(map[string]any)
		if invites, _ := rooms["invite"].(map[string]any); invites[string(bobRoom)] != nil {
			t.Errorf("initial sync shows bob's invite")
		}

		// Un-ignored, bob is heard at once.
		ignore()
		heard := must[*mautrix.RespSendEvent](t, "bob heard")(bob.SendText(ctx, roomID, "bob heard")).EventID
		last := e.do("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(next.str("next_batch")), aliceTok, nil)
		tl, _ = syncRoom(t, last.body, roomID)["timeline"].(map[string]any)
		if eventsByID(tl["events"])[string(heard)] == nil {
			t.Errorf("sync after un-ignoring misses %s", heard)
		}
		if msgs := eventIDs(must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 100)).Chunk); !slices.Contains(msgs, bobMsg) {
			t.Errorf("/messages after un-ignoring misses %s", bobMsg)
		}
	})
}
