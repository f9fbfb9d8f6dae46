package clientapi

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/push"
	"github.com/hafenchat/hafen/internal/room"
)

// startNotifier starts the push notifier of e and returns a function that
// waits until it has seen every event committed so far.
func startNotifier(t *testing.T, e *roomEnv) (caughtUp func()) {
	t.Helper()
	svc := e.srv.Rooms.Service.(*room.Service)
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := push.NewNotifier(push.NotifierConfig{DB: e.db, Stream: e.events, Rooms: svc, ServerName: "hafen.test", Logger: logger})
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	e.srv.Push = &push.Service{DB: e.db}
	return func() {
		t.Helper()
		pos, err := e.db.MaxStreamPos(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := n.WaitFor(context.Background(), pos); err != nil {
			t.Fatal(err)
		}
	}
}

// listNotifications returns a page of the user's notifications (query is
// the URL's query, "" or starting with "?") and the next page's token.
func listNotifications(t *testing.T, e *roomEnv, tok, query string) ([]map[string]any, string) {
	t.Helper()
	res := e.do("GET", "/_matrix/client/v3/notifications"+query, tok, nil)
	e.expect(res, 200, "")
	var out []map[string]any
	for _, x := range res.body["notifications"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out, res.str("next_token")
}

// notificationRoom registers alice, bob and carol and returns their
// tokens and a room of alice's that bob joined.
func notificationRoom(t *testing.T, e *roomEnv) (alice, bob, carol, roomID string) {
	t.Helper()
	_, alice = e.user("alice")
	_, bob = e.user("bob")
	_, carol = e.user("carol")
	roomID = e.createRoom(alice)
	e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/join", bob, map[string]any{}), 200, "")
	return alice, bob, carol, roomID
}

// notificationReads returns the user's notifications as event ID → read.
func notificationReads(t *testing.T, e *roomEnv, tok string) map[string]bool {
	t.Helper()
	ns, _ := listNotifications(t, e, tok, "")
	out := map[string]bool{}
	for _, n := range ns {
		out[n["event"].(map[string]any)["event_id"].(string)] = n["read"] == true
	}
	return out
}

// An invite notifies the invitee, who is not yet a member of the room
// (.m.rule.invite_for_me). A threaded read receipt marks read only the
// notifications of its thread, "main" those of the main timeline.
// Spec: Client-Server API § Push rules (predefined rules), § Threaded
// read receipts.
func TestNotificationsInvitesAndThreadedReads(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		caughtUp := startNotifier(t, e)
		alice, bob, carol, roomID := notificationRoom(t, e)
		rq := url.PathEscape(roomID)
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/invite", alice, map[string]any{"user_id": "@carol:hafen.test"}), 200, "")
		caughtUp()
		ns, _ := listNotifications(t, e, carol, "")
		if len(ns) != 1 {
			t.Fatalf("carol's notifications after her invite = %v, want the invite", ns)
		}
		if ev := ns[0]["event"].(map[string]any); ev["type"] != "m.room.member" || ev["state_key"] != "@carol:hafen.test" {
			t.Errorf("carol's notification = %v, want her invite", ev)
		}

		send := func(txn string, content map[string]any) string {
			t.Helper()
			res := e.do("PUT", "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/"+txn, bob, content)
			e.expect(res, 200, "")
			return res.str("event_id")
		}
		root := send("1", map[string]any{"msgtype": "m.text", "body": "root"})
		reply := send("2", map[string]any{"msgtype": "m.text", "body": "in thread",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
		caughtUp()
		receipt := func(eventID, thread string) {
			t.Helper()
			e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/receipt/m.read/"+url.PathEscape(eventID), alice, map[string]any{"thread_id": thread}), 200, "")
		}
		receipt(reply, root)
		if got := notificationReads(t, e, alice); !got[reply] || got[root] {
			t.Errorf("after a receipt in the thread: read %v, want only the reply (%s) read", got, reply)
		}
		receipt(root, "main")
		if got := notificationReads(t, e, alice); !got[reply] || !got[root] {
			t.Errorf("after a receipt in the main timeline too: read %v, want both read", got)
		}
	})
}

// pusherBody is a valid http pusher.
func pusherBody(appID, pushKey string) map[string]any {
	return map[string]any{
		"kind": "http", "app_id": appID, "pushkey": pushKey, "app_display_name": "Harbour", "device_display_name": "Phone",
		"lang": "en", "data": map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify", "format": "event_id_only"},
	}
}

// TestPushers follows Client-Server API § Push notifications (pushers):
// set, list, replace, append, delete with kind null, and the spec's
// validation, each user seeing only their own.
func TestPushers(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		e.srv.Push = &push.Service{DB: e.db}
		ctx := context.Background()
		aliceCli, alice := e.user("alice")
		_, bob := e.user("bob")
		list := func(tok string) []map[string]any {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/pushers", tok, nil)
			e.expect(res, 200, "")
			var out []map[string]any
			for _, p := range res.body["pushers"].([]any) {
				out = append(out, p.(map[string]any))
			}
			return out
		}
		if got := list(alice); len(got) != 0 {
			t.Fatalf("pushers before any = %v", got)
		}
		kind := mautrix.PusherKindHTTP
		err := aliceCli.SetPusher(ctx, &mautrix.Pusher{Kind: &kind, AppID: "org.example.app", PushKey: "key1", AppDisplayName: "App",
			DeviceDisplayName: "Phone", Language: "en", Data: mautrix.PusherData{"url": "https://push.example.org/_matrix/push/v1/notify", "custom": 1}})
		if err != nil {
			t.Fatalf("mautrix SetPusher: %v", err)
		}
		got, err := aliceCli.GetPushers(ctx)
		if err != nil || len(got.Pushers) != 1 || got.Pushers[0].PushKey != "key1" || got.Pushers[0].Data["custom"] != float64(1) || *got.Pushers[0].Kind != "http" {
			t.Fatalf("mautrix GetPushers = %+v, %v", got, err)
		}
		if got := list(bob); len(got) != 0 {
			t.Errorf("bob sees pushers: %v", got)
		}
		// Replacing keeps one pusher.
		b := pusherBody("org.example.app", "key1")
		b["device_display_name"] = "Tablet"
		e.expect(e.do("POST", "/_matrix/client/v3/pushers/set", alice, b), 200, "")
		if got := list(alice); len(got) != 1 || got[0]["device_display_name"] != "Tablet" {
			t.Errorf("after replacing: %v", got)
		}
		// Bob takes the same app ID and push key: without append alice's
		// goes; with append both stay.
		e.expect(e.do("POST", "/_matrix/client/v3/pushers/set", bob, pusherBody("org.example.app", "key1")), 200, "")
		if got := list(alice); len(got) != 0 {
			t.Errorf("alice's pusher after bob took its push key without append: %v", got)
		}
		withAppend := pusherBody("org.example.app", "key1")
		withAppend["append"] = true
		e.expect(e.do("POST", "/_matrix/client/v3/pushers/set", alice, withAppend), 200, "")
		if len(list(alice)) != 1 || len(list(bob)) != 1 {
			t.Errorf("with append: alice %v, bob %v", list(alice), list(bob))
		}
		// kind null deletes (other fields not required).
		e.expect(e.do("POST", "/_matrix/client/v3/pushers/set", alice, map[string]any{"kind": nil, "app_id": "org.example.app", "pushkey": "key1"}), 200, "")
		if got := list(alice); len(got) != 0 {
			t.Errorf("after kind null: %v", got)
		}
		if len(list(bob)) != 1 {
			t.Error("deleting alice's pusher removed bob's")
		}

		for _, tc := range []struct {
			name    string
			edit    func(map[string]any)
			errcode string
		}{
			{"no kind", func(b map[string]any) { delete(b, "kind") }, "M_MISSING_PARAM"},
			{"no lang", func(b map[string]any) { delete(b, "lang") }, "M_MISSING_PARAM"},
			{"no data", func(b map[string]any) { delete(b, "data") }, "M_MISSING_PARAM"},
			{"no url for http", func(b map[string]any) { b["data"] = map[string]any{} }, "M_MISSING_PARAM"},
			{"http url", func(b map[string]any) {
				b["data"] = map[string]any{"url": "http://push.example.org/_matrix/push/v1/notify"}
			}, "M_INVALID_PARAM"},
			{"url with another path", func(b map[string]any) { b["data"] = map[string]any{"url": "https://push.example.org/notify"} }, "M_INVALID_PARAM"},
			{"unknown kind", func(b map[string]any) { b["kind"] = "sms" }, "M_INVALID_PARAM"},
			{"unknown format", func(b map[string]any) {
				b["data"] = map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify", "format": "full"}
			}, "M_INVALID_PARAM"},
			{"app_id over 64 characters", func(b map[string]any) { b["app_id"] = strings.Repeat("a", 65) }, "M_INVALID_PARAM"},
			{"pushkey over 512 bytes", func(b map[string]any) { b["pushkey"] = strings.Repeat("k", 513) }, "M_INVALID_PARAM"},
		} {
			b := pusherBody("org.example.other", "key2")
			tc.edit(b)
			res := e.do("POST", "/_matrix/client/v3/pushers/set", alice, b)
			if res.status != 400 || res.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, res.status, res.raw, tc.errcode)
			}
		}
		e.expect(e.do("POST", "/_matrix/client/v3/pushers/set", alice, map[string]any{"kind": 5}), 400, "M_BAD_JSON")

		// A pusher goes with the device (access token) that set it.
		carol := e.register("carol", "pw-carol")
		phone := e.login("carol", "pw-carol", "PHONE")
		e.expect(phone, 200, "")
		e.expect(e.do("POST", "/_matrix/client/v3/pushers/set", phone.str("access_token"), pusherBody("org.example.app", "carolkey")), 200, "")
		if got := list(carol.str("access_token")); len(got) != 1 {
			t.Fatalf("carol's pushers = %v", got)
		}
		e.expect(e.do("POST", "/_matrix/client/v3/logout", phone.str("access_token"), nil), 200, "")
		if got := list(carol.str("access_token")); len(got) != 0 {
			t.Errorf("carol's pushers after the device that set it logged out = %v", got)
		}
		e.expect(e.do("GET", "/_matrix/client/v3/pushers", "", nil), 401, "M_MISSING_TOKEN")
		if got := list(alice); len(got) != 0 {
			t.Errorf("a refused request stored a pusher: %v", got)
		}
	})
}

// TestNotifications follows Client-Server API § Listing notifications:
// events of others that notify under the user's push rules, newest first,
// with their actions, only=highlight, pagination by next_token, and read
// once a read receipt covers them; never the user's own events or rooms
// they are not in.
func TestNotifications(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		caughtUp := startNotifier(t, e)
		alice, bob, carol, roomID := notificationRoom(t, e)
		rq := url.PathEscape(roomID)
		send := func(tok, txn string, content map[string]any) string {
			t.Helper()
			res := e.do("PUT", "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/"+txn, tok, content)
			e.expect(res, 200, "")
			return res.str("event_id")
		}
		hello := send(bob, "1", map[string]any{"msgtype": "m.text", "body": "hello"})
		send(alice, "2", map[string]any{"msgtype": "m.text", "body": "hi bob"})
		mention := send(bob, "3", map[string]any{"msgtype": "m.text", "body": "look, alice", "m.mentions": map[string]any{"user_ids": []string{"@alice:hafen.test"}}})
		caughtUp()

		notifs := func(tok, query string) ([]map[string]any, string) {
			t.Helper()
			return listNotifications(t, e, tok, query)
		}
		eventID := func(n map[string]any) string { return n["event"].(map[string]any)["event_id"].(string) }
		all, next := notifs(alice, "")
		if len(all) != 2 || eventID(all[0]) != mention || eventID(all[1]) != hello || next != "" {
			t.Fatalf("alice's notifications = %v (next %q), want the mention then hello", all, next)
		}
		if all[0]["room_id"] != roomID || all[0]["read"] != false || all[0]["ts"] == nil {
			t.Errorf("notification fields = %v", all[0])
		}
		if _, ok := all[0]["event"].(map[string]any)["room_id"]; ok {
			t.Error("the notification's event carries room_id (ClientEventWithoutRoomID)")
		}
		if actions, _ := all[0]["actions"].([]any); len(actions) == 0 || !strings.Contains(e.do("GET", "/_matrix/client/v3/notifications", alice, nil).raw, `"set_tweak":"highlight"`) {
			t.Errorf("the mention's actions = %v, want notify with a highlight tweak", all[0]["actions"])
		}
		high, _ := notifs(alice, "?only=highlight")
		if len(high) != 1 || eventID(high[0]) != mention {
			t.Errorf("only=highlight = %v", high)
		}
		page1, next := notifs(alice, "?limit=1")
		if len(page1) != 1 || eventID(page1[0]) != mention || next == "" {
			t.Fatalf("page 1 = %v, next %q", page1, next)
		}
		page2, next2 := notifs(alice, "?limit=1&from="+url.QueryEscape(next))
		if len(page2) != 1 || eventID(page2[0]) != hello || next2 != "" {
			t.Errorf("page 2 = %v, next %q", page2, next2)
		}
		if got, _ := notifs(bob, ""); len(got) != 1 {
			t.Errorf("bob's notifications = %v, want alice's one message", got)
		}
		if got, _ := notifs(carol, ""); len(got) != 0 {
			t.Errorf("carol, in no room, has notifications: %v", got)
		}
		// A read receipt for the newest event marks both read.
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/receipt/m.read/"+url.PathEscape(mention), alice, map[string]any{}), 200, "")
		all, _ = notifs(alice, "")
		for _, x := range all {
			if x["read"] != true {
				t.Errorf("after the receipt: %v", x)
			}
		}
		e.expect(e.do("GET", "/_matrix/client/v3/notifications?only=all", alice, nil), 400, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v3/notifications?from=x", alice, nil), 400, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v3/notifications?limit=-2", alice, nil), 400, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v3/notifications", "", nil), 401, "M_MISSING_TOKEN")
	})
}

// TestNotificationsPruned checks that the notifier prunes what it stores:
// a user keeps only the newest notifications up to the limit, and none of
// events older than the maximum age.
func TestNotificationsPruned(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		svc := e.srv.Rooms.Service.(*room.Service)
		start := func(cfg push.NotifierConfig) *push.Notifier {
			t.Helper()
			cfg.DB, cfg.Stream, cfg.Rooms, cfg.ServerName = e.db, e.events, svc, "hafen.test"
			n := push.NewNotifier(cfg)
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			return n
		}
		caughtUp := func(n *push.Notifier) {
			t.Helper()
			pos, err := e.db.MaxStreamPos(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := n.WaitFor(context.Background(), pos); err != nil {
				t.Fatal(err)
			}
		}
		e.srv.Push = &push.Service{DB: e.db}
		_, alice := e.user("alice")
		_, bob := e.user("bob")
		roomID := e.createRoom(alice)
		rq := url.PathEscape(roomID)
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/join", bob, map[string]any{}), 200, "")
		n := start(push.NotifierConfig{KeepNotifications: 3, PruneEvery: time.Nanosecond})
		var sent []string
		for i := range 5 {
			res := e.do("PUT", "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/"+strconv.Itoa(i), bob, map[string]any{"msgtype": "m.text", "body": "hello"})
			e.expect(res, 200, "")
			sent = append(sent, res.str("event_id"))
			caughtUp(n) // one batch per message: each prunes
		}
		n.Stop()
		ids := func() []string {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/notifications", alice, nil)
			e.expect(res, 200, "")
			var out []string
			for _, x := range res.body["notifications"].([]any) {
				out = append(out, x.(map[string]any)["event"].(map[string]any)["event_id"].(string))
			}
			return out
		}
		if got, want := ids(), []string{sent[4], sent[3], sent[2]}; !slices.Equal(got, want) {
			t.Errorf("notifications kept = %v, want the newest three %v", got, want)
		}
		// Every stored event is older than a nanosecond when the next
		// batch prunes: only the new one stays.
		n = start(push.NotifierConfig{NotificationsMaxAge: time.Nanosecond, PruneEvery: time.Nanosecond})
		t.Cleanup(n.Stop)
		time.Sleep(2 * time.Millisecond) // origin_server_ts has millisecond resolution
		res := e.do("PUT", "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/new", bob, map[string]any{"msgtype": "m.text", "body": "hello"})
		e.expect(res, 200, "")
		caughtUp(n)
		if got := ids(); len(got) != 0 && !(len(got) == 1 && got[0] == res.str("event_id")) {
			t.Errorf("notifications after pruning by age = %v, want at most the newest", got)
		}
	})
}

// TestNotificationsReuseSyncEvaluations checks that the push notifier
// takes the push-rule evaluations sync's unread counters made for the
// users who sync instead of evaluating their rules again, and evaluates
// the rest itself. Alice and carol switch notifications off (the master
// rule) without telling either (no account data hook here): sync, which
// holds alice's rules from her first sync, still counts bob's message as
// a notification for her, and the notifier, reusing that, stores it;
// carol, who never synced, is evaluated by the notifier under the rules it
// reads, and gets none.
func TestNotificationsReuseSyncEvaluations(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		svc := e.srv.Rooms.Service.(*room.Service)
		logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		evals := push.NewEvaluations()
		syncer := clientsync.New(clientsync.Config{DB: e.db, Rooms: svc, Logger: logger, Stream: e.events, PushEvaluations: evals})
		if err := syncer.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(syncer.Stop)
		e.srv.Sync = syncer
		e.srv.Push = &push.Service{DB: e.db}
		newNotifier := func() *push.Notifier {
			n := push.NewNotifier(push.NotifierConfig{DB: e.db, Stream: e.events, Rooms: svc, ServerName: "hafen.test", Evaluations: evals, Logger: logger})
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			return n
		}
		_, alice := e.user("alice")
		_, bob := e.user("bob")
		_, carol := e.user("carol")
		roomID := e.createRoom(alice)
		rq := url.PathEscape(roomID)
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/join", bob, map[string]any{}), 200, "")
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/join", carol, map[string]any{}), 200, "")
		// The notifier catches up, then is stopped, so that it takes bob's
		// message only once sync has counted it.
		n := newNotifier()
		pos, err := e.db.MaxStreamPos(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := n.WaitFor(context.Background(), pos); err != nil {
			t.Fatal(err)
		}
		n.Stop()

		first := e.do("GET", "/_matrix/client/v3/sync", alice, nil)
		e.expect(first, 200, "")
		for _, tok := range []string{alice, carol} {
			e.expect(e.do("PUT", "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", tok, map[string]any{"enabled": true}), 200, "")
		}
		res := e.do("PUT", "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/1", bob, map[string]any{"msgtype": "m.text", "body": "hello"})
		e.expect(res, 200, "")
		msg := res.str("event_id")
		next := e.do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+url.QueryEscape(first.str("next_batch")), alice, nil)
		e.expect(next, 200, "")
		if !strings.Contains(next.raw, msg) || !strings.Contains(next.raw, `"notification_count":1`) {
			t.Fatalf("alice's sync after bob's message = %s, want it counted", next.raw)
		}

		n = newNotifier()
		t.Cleanup(n.Stop)
		pos, err = e.db.MaxStreamPos(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := n.WaitFor(context.Background(), pos); err != nil {
			t.Fatal(err)
		}
		got := func(tok string) []string {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/notifications", tok, nil)
			e.expect(res, 200, "")
			var out []string
			for _, x := range res.body["notifications"].([]any) {
				out = append(out, x.(map[string]any)["event"].(map[string]any)["event_id"].(string))
			}
			return out
		}
		if ids := got(alice); !slices.Equal(ids, []string{msg}) {
			t.Errorf("alice's notifications = %v, want sync's evaluation of %s", ids, msg)
		}
		if ids := got(carol); len(ids) != 0 {
			t.Errorf("carol's notifications = %v, want none under her master rule", ids)
		}
	})
}

// TestNotificationsLeaveIgnoredUsersOut: an ignored user's events make no
// notification, whether sync evaluated them for the user (alice syncs) or
// the push notifier evaluates them itself (carol never syncs); dave, who
// ignores nobody, gets his. Spec: Client-Server API § Ignoring Users.
func TestNotificationsLeaveIgnoredUsersOut(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		svc := e.srv.Rooms.Service.(*room.Service)
		logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		evals := push.NewEvaluations()
		syncer := clientsync.New(clientsync.Config{DB: e.db, Rooms: svc, Logger: logger, Stream: e.events, PushEvaluations: evals})
		if err := syncer.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(syncer.Stop)
		e.srv.Sync = syncer
		_, alice := e.user("alice")
		_, bob := e.user("bob")
		_, carol := e.user("carol")
		_, dave := e.user("dave")
		roomID := e.createRoom(dave)
		rq := url.PathEscape(roomID)
		for _, tok := range []string{alice, bob, carol} {
			e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+rq+"/join", tok, map[string]any{}), 200, "")
		}
		for user, tok := range map[string]string{"@alice:hafen.test": alice, "@carol:hafen.test": carol} {
			e.expect(e.do("PUT", "/_matrix/client/v3/user/"+url.PathEscape(user)+"/account_data/m.ignored_user_list", tok,
				map[string]any{"ignored_users": map[string]any{"@bob:hafen.test": map[string]any{}}}), 200, "")
		}
		first := e.do("GET", "/_matrix/client/v3/sync", alice, nil)
		e.expect(first, 200, "")
		e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/1", bob,
			map[string]any{"msgtype": "m.text", "body": "hello all", "m.mentions": map[string]any{"room": true}}), 200, "")
		// Sync counts the message for alice before the notifier starts.
		e.expect(e.do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+url.QueryEscape(first.str("next_batch")), alice, nil), 200, "")

		n := push.NewNotifier(push.NotifierConfig{DB: e.db, Stream: e.events, Rooms: svc, ServerName: "hafen.test", Evaluations: evals, Logger: logger})
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Stop)
		pos, err := e.db.MaxStreamPos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.WaitFor(ctx, pos); err != nil {
			t.Fatal(err)
		}
		for user, want := range map[id.UserID]int{"@alice:hafen.test": 0, "@carol:hafen.test": 0, "@dave:hafen.test": 1} {
			ns, err := e.db.Derived().Notifications(ctx, user, 0, 10, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) != want {
				t.Errorf("%s has %d notifications stored, want %d", user, len(ns), want)
			}
		}
	})
}
