package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"

	"github.com/hafenchat/hafen/internal/receipts"
)

// syncCounts returns a joined room's unread_notifications and
// unread_thread_notifications of a sync response body.
func syncCounts(t *testing.T, body map[string]any, roomID string) (map[string]any, map[string]any) {
	t.Helper()
	rooms, _ := body["rooms"].(map[string]any)
	join, _ := rooms["join"].(map[string]any)
	r, _ := join[roomID].(map[string]any)
	main, _ := r["unread_notifications"].(map[string]any)
	threads, _ := r["unread_thread_notifications"].(map[string]any)
	return main, threads
}

func countOf(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m["notification_count"]
}

// TestSyncUnreadThreadNotifications checks per-thread counts through the
// router on each backend: with the timeline filter's
// unread_thread_notifications the main timeline's counts leave thread
// events out and each thread has its own, a threaded read receipt clears
// its thread only (up to its event), a main timeline receipt the main
// timeline only, and a sync service set up afresh from the store agrees.
func TestSyncUnreadThreadNotifications(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		e.srv.Receipts.(*receipts.Service).Changed = e.srv.Sync.ReceiptsAdded
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespSendEvent](t, "alice")(alice.SendText(ctx, roomID, "alice reads up to here"))
		root := must[*mautrix.RespSendEvent](t, "root")(bob.SendText(ctx, roomID, "root")).EventID
		reply := func(body string) string {
			t.Helper()
			return string(must[*mautrix.RespSendEvent](t, "reply")(bob.SendMessageEvent(ctx, roomID, mevent.EventMessage, relatesTo(body, "m.thread", root, nil))).EventID)
		}
		reply("one")
		second := reply("two")
		must[*mautrix.RespSendEvent](t, "main")(carol.SendText(ctx, roomID, "main timeline"))

		threaded := "/_matrix/client/v3/sync?filter=" + url.QueryEscape(`{"room":{"timeline":{"unread_thread_notifications":true}}}`)
		plain := e.do("GET", "/_matrix/client/v3/sync", aliceTok, nil)
		e.expect(plain, http.StatusOK, "")
		if main, threads := syncCounts(t, plain.body, string(roomID)); countOf(main) != float64(4) || threads != nil {
			t.Errorf("without the option: unread_notifications %v, unread_thread_notifications %v; want 4 and none", main, threads)
		}
		first := e.do("GET", threaded, aliceTok, nil)
		e.expect(first, http.StatusOK, "")
		main, threads := syncCounts(t, first.body, string(roomID))
		th, _ := threads[string(root)].(map[string]any)
		if countOf(main) != float64(2) || len(threads) != 1 || countOf(th) != float64(2) {
			t.Errorf("with the option: unread_notifications %v, unread_thread_notifications %v; want 2 and {%s: 2}", main, threads, root)
		}

		// A threaded read receipt for the thread's newest event clears the
		// thread, not the main timeline.
		rq := url.PathEscape(string(roomID))
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/receipt/m.read/"+url.PathEscape(second), aliceTok, map[string]any{"thread_id": string(root)}), http.StatusOK, "")
		next := e.do("GET", threaded+"&since="+url.QueryEscape(first.str("next_batch")), aliceTok, nil)
		e.expect(next, http.StatusOK, "")
		main, threads = syncCounts(t, next.body, string(roomID))
		if countOf(main) != float64(2) || threads != nil {
			t.Errorf("after the threaded receipt: unread_notifications %v, unread_thread_notifications %v; want 2 and none", main, threads)
		}
		if main, _ := syncCounts(t, e.do("GET", "/_matrix/client/v3/sync", aliceTok, nil).body, string(roomID)); countOf(main) != float64(2) {
			t.Errorf("after the threaded receipt, without the option: unread_notifications %v, want 2", main)
		}
		three := reply("three")
		third := e.do("GET", threaded+"&since="+url.QueryEscape(next.str("next_batch")), aliceTok, nil)
		main, threads = syncCounts(t, third.body, string(roomID))
		th, _ = threads[string(root)].(map[string]any)
		if countOf(main) != float64(2) || countOf(th) != float64(1) {
			t.Errorf("after a new reply: unread_notifications %v, unread_thread_notifications %v; want 2 and {%s: 1}", main, threads, root)
		}

		// A threaded receipt for an older event of the thread reads up to
		// it only.
		reply("four")
		fourth := e.do("GET", threaded+"&since="+url.QueryEscape(third.str("next_batch")), aliceTok, nil)
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/receipt/m.read/"+url.PathEscape(three), aliceTok, map[string]any{"thread_id": string(root)}), http.StatusOK, "")
		fifth := e.do("GET", threaded+"&since="+url.QueryEscape(fourth.str("next_batch")), aliceTok, nil)
		main, threads = syncCounts(t, fifth.body, string(roomID))
		th, _ = threads[string(root)].(map[string]any)
		if countOf(main) != float64(2) || countOf(th) != float64(1) {
			t.Errorf("after a receipt for an older reply: unread_notifications %v, unread_thread_notifications %v; want 2 and {%s: 1}", main, threads, root)
		}

		// A main timeline receipt for the newest main event reads the main
		// timeline, not the thread.
		mainLast := string(must[*mautrix.RespSendEvent](t, "main")(carol.SendText(ctx, roomID, "main again")).EventID)
		sixth := e.do("GET", threaded+"&since="+url.QueryEscape(fifth.str("next_batch")), aliceTok, nil)
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/receipt/m.read/"+url.PathEscape(mainLast), aliceTok, map[string]any{"thread_id": "main"}), http.StatusOK, "")
		seventh := e.do("GET", threaded+"&since="+url.QueryEscape(sixth.str("next_batch")), aliceTok, nil)
		main, threads = syncCounts(t, seventh.body, string(roomID))
		th, _ = threads[string(root)].(map[string]any)
		if countOf(main) != float64(0) || countOf(th) != float64(1) {
			t.Errorf("after a main timeline receipt: unread_notifications %v, unread_thread_notifications %v; want 0 and {%s: 1}", main, threads, root)
		}

		// A sync service set up afresh counts from the store with the
		// threaded receipt and agrees.
		withSync(t, e)
		fresh := e.do("GET", threaded, aliceTok, nil)
		main, threads = syncCounts(t, fresh.body, string(roomID))
		th, _ = threads[string(root)].(map[string]any)
		if countOf(main) != float64(0) || len(threads) != 1 || countOf(th) != float64(1) {
			t.Errorf("fresh service: unread_notifications %v, unread_thread_notifications %v; want 0 and {%s: 1}", main, threads, root)
		}
	})
}

// TestSyncUnreadThreadFollowsRelations: push.md: "To determine if an event
// is part of a thread the server follows the event relationship until it
// finds a thread root via an m.thread relation". A message that references
// a thread reply (as a poll's end does) counts in the thread, and the
// thread's receipt for it clears it; a fresh sync service agrees.
func TestSyncUnreadThreadFollowsRelations(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		e.srv.Receipts.(*receipts.Service).Changed = e.srv.Sync.ReceiptsAdded
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespSendEvent](t, "alice")(alice.SendText(ctx, roomID, "alice reads up to here"))
		root := must[*mautrix.RespSendEvent](t, "root")(bob.SendText(ctx, roomID, "root")).EventID
		reply := must[*mautrix.RespSendEvent](t, "reply")(bob.SendMessageEvent(ctx, roomID, mevent.EventMessage, relatesTo("in the thread", "m.thread", root, nil))).EventID
		ref := must[*mautrix.RespSendEvent](t, "reference")(bob.SendMessageEvent(ctx, roomID, mevent.EventMessage, relatesTo("about the reply", "m.reference", reply, nil))).EventID

		threaded := "/_matrix/client/v3/sync?filter=" + url.QueryEscape(`{"room":{"timeline":{"unread_thread_notifications":true}}}`)
		want := func(what string, body map[string]any, mainCount, threadCount any) {
			t.Helper()
			main, threads := syncCounts(t, body, string(roomID))
			th, _ := threads[string(root)].(map[string]any)
			if countOf(main) != mainCount || countOf(th) != threadCount {
				t.Errorf("%s: unread_notifications %v, unread_thread_notifications %v; want %v and {%s: %v}", what, main, threads, mainCount, root, threadCount)
			}
		}
		first := e.do("GET", threaded, aliceTok, nil)
		e.expect(first, http.StatusOK, "")
		want("initial", first.body, float64(1), float64(2))
		withSync(t, e)
		e.srv.Receipts.(*receipts.Service).Changed = e.srv.Sync.ReceiptsAdded
		want("fresh service", e.do("GET", threaded, aliceTok, nil).body, float64(1), float64(2))

		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/receipt/m.read/"+url.PathEscape(string(ref)), aliceTok,
			map[string]any{"thread_id": string(root)}), http.StatusOK, "")
		next := e.do("GET", threaded+"&since="+url.QueryEscape(first.str("next_batch")), aliceTok, nil)
		e.expect(next, http.StatusOK, "")
		want("after the thread's receipt", next.body, float64(1), nil)
	})
}
