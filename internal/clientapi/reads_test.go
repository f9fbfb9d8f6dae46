package clientapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/clientsync"
	hid "github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// roomPath is the path of a room endpoint.
func roomPath(roomID mid.RoomID, rest string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(string(roomID)) + rest
}

// unsignedOf returns the unsigned object of an event in a response body.
func unsignedOf(ev any) map[string]any {
	m, _ := ev.(map[string]any)
	u, _ := m["unsigned"].(map[string]any)
	return u
}

// eventsByID indexes the events of a list in a response body.
func eventsByID(list any) map[string]map[string]any {
	out := map[string]map[string]any{}
	evs, _ := list.([]any)
	for _, ev := range evs {
		m, _ := ev.(map[string]any)
		id, _ := m["event_id"].(string)
		out[id] = m
	}
	return out
}

func TestMembersAtAppliesHistoryVisibility(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		bob, bobToken := e.user("bob")
		carol, carolToken := e.user("carol")
		ctx := context.Background()
		for _, tc := range []struct {
			visibility string
			status     int
		}{
			{"joined", 403},
			{"shared", 200},
		} {
			t.Run(tc.visibility, func(t *testing.T) {
				e.t = t
				r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
				must[*mautrix.RespSendEvent](t, "visibility")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateHistoryVisibility, "",
					map[string]any{"history_visibility": tc.visibility}))
				must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, r.RoomID))
				before := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 1))
				must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
				after := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 1))

				// Synapse answers 403 for a point bob may not see.
				res := e.do("GET", roomPath(r.RoomID, "/members?at="+url.QueryEscape(before.Start)), bobToken, nil)
				if tc.status == 403 {
					e.expect(res, 403, "M_FORBIDDEN")
				} else {
					e.expect(res, 200, "")
				}
				// From his join on he sees the member list.
				res = e.do("GET", roomPath(r.RoomID, "/members?at="+url.QueryEscape(after.Start)), bobToken, nil)
				e.expect(res, 200, "")
				if n := len(res.body["chunk"].([]any)); n != 3 {
					t.Errorf("members at bob's join: %d, want 3", n)
				}
				// carol, joined at that point, always sees it.
				e.expect(e.do("GET", roomPath(r.RoomID, "/members?at="+url.QueryEscape(before.Start)), carolToken, nil), 200, "")
			})
		}
	})
}

func TestDotSegmentsAnswerJSON(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, token := e.user("alice")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
		for _, tc := range []struct {
			method, path string
			status       int
			errcode      string
		}{
			{"GET", roomPath(r.RoomID, "/event/.."), 400, "M_INVALID_PARAM"},
			{"GET", roomPath(r.RoomID, "/event/."), 400, "M_INVALID_PARAM"},
			{"GET", roomPath(r.RoomID, "/context/.."), 400, "M_INVALID_PARAM"},
			{"GET", roomPath(r.RoomID, "/../../versions"), 404, "M_UNRECOGNIZED"},
			{"GET", "/_matrix/client/v3/rooms/../joined_rooms", 404, "M_UNRECOGNIZED"},
			{"GET", "/_matrix/client/v3//joined_rooms", 404, "M_UNRECOGNIZED"},
			{"GET", roomPath(r.RoomID, "/state/m.room.topic/.."), 404, "M_NOT_FOUND"},
		} {
			res := e.do(tc.method, tc.path, token, nil)
			if res.header.Get("Location") != "" {
				t.Errorf("%s %s redirects to %s", tc.method, tc.path, res.header.Get("Location"))
			}
			if res.status != tc.status || res.str("errcode") != tc.errcode {
				t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.path, res.status, res.raw, tc.status, tc.errcode)
			}
		}
		// A state key of ".." is a state key like any other.
		e.expect(e.do("PUT", roomPath(r.RoomID, "/state/org.example.dots/.."), token, map[string]any{"v": 1}), 200, "")
		res := e.do("GET", roomPath(r.RoomID, "/state/org.example.dots/.."), token, nil)
		e.expect(res, 200, "")
		if res.body["v"] != float64(1) {
			t.Errorf("state at key ..: %s", res.raw)
		}
	})
}

func TestUnsignedMembershipOnReadEndpoints(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, aliceToken := e.user("alice")
		bob, bobToken := e.user("bob")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		m1 := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "before bob"))
		join := must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
		_ = join
		m2 := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "with bob"))
		must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, r.RoomID))
		m3 := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "after bob"))
		must[*mautrix.RespJoinRoom](t, "bob rejoins")(bob.JoinRoomByID(ctx, r.RoomID))

		// spec v1.11: the requester's membership at the event, with the
		// event's own change; "leave" before they ever joined.
		want := map[string]map[mid.EventID]string{
			bobToken:   {m1.EventID: "leave", m2.EventID: "join", m3.EventID: "leave"},
			aliceToken: {m1.EventID: "join", m2.EventID: "join", m3.EventID: "join"},
		}
		for token, byEvent := range want {
			res := e.do("GET", roomPath(r.RoomID, "/messages?dir=b&limit=50"), token, nil)
			e.expect(res, 200, "")
			chunk := eventsByID(res.body["chunk"])
			for evID, m := range byEvent {
				if got := unsignedOf(chunk[string(evID)])["membership"]; got != m {
					t.Errorf("/messages: membership at %s = %v, want %s", evID, got, m)
				}
				res := e.do("GET", roomPath(r.RoomID, "/event/"+url.PathEscape(string(evID))), token, nil)
				e.expect(res, 200, "")
				if got := unsignedOf(res.body)["membership"]; got != m {
					t.Errorf("/event: membership at %s = %v, want %s", evID, got, m)
				}
				res = e.do("GET", roomPath(r.RoomID, "/context/"+url.PathEscape(string(evID))+"?limit=2"), token, nil)
				e.expect(res, 200, "")
				if got := unsignedOf(res.body["event"])["membership"]; got != m {
					t.Errorf("/context: membership at %s = %v, want %s", evID, got, m)
				}
			}
		}
		// Bob's own member events carry the membership they set.
		res := e.do("GET", roomPath(r.RoomID, "/messages?dir=b&limit=50&filter="+url.QueryEscape(`{"types":["m.room.member"]}`)), bobToken, nil)
		e.expect(res, 200, "")
		for _, ev := range eventsByID(res.body["chunk"]) {
			if ev["state_key"] != string(bob.UserID) {
				continue
			}
			content, _ := ev["content"].(map[string]any)
			if got := unsignedOf(ev)["membership"]; got != content["membership"] {
				t.Errorf("bob's member event %v: unsigned.membership = %v, want %v", ev["event_id"], got, content["membership"])
			}
		}
	})
}

func TestStateReadsCarryPrevContentAndRedactions(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, token := e.user("alice")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
		topic1 := must[*mautrix.RespSendEvent](t, "topic 1")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "first"}))
		topic2 := must[*mautrix.RespSendEvent](t, "topic 2")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "second"}))
		// The event path records what each state event replaced.
		stored := map[mid.EventID]int64{}
		for _, id := range []mid.EventID{topic1.EventID, topic2.EventID} {
			ev, err := e.db.Event(ctx, hid.EventID(id))
			if err != nil {
				t.Fatal(err)
			}
			stored[id] = ev.NID
		}
		rep, err := e.db.StateReplaces(ctx, []int64{stored[topic1.EventID], stored[topic2.EventID]})
		if err != nil || rep[stored[topic2.EventID]] != stored[topic1.EventID] || rep[stored[topic1.EventID]] != 0 {
			t.Errorf("recorded replaced events = %v, %v; want topic 2 → topic 1 → none", rep, err)
		}
		name := must[*mautrix.RespSendEvent](t, "name")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateRoomName, "", map[string]any{"name": "rude"}))
		must[*mautrix.RespSendEvent](t, "redact")(alice.RedactEvent(ctx, r.RoomID, name.EventID))
		must[*mautrix.RespSendEvent](t, "name 2")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateRoomName, "", map[string]any{"name": "nice"}))
		must[any](t, "rename")(nil, alice.SetDisplayName(ctx, "Alice"))
		e.drainProfiles()

		req := httptest.NewRequest("GET", roomPath(r.RoomID, "/state"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		var list []any
		if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil {
			t.Fatalf("GET /state = %d %s", rec.Code, rec.Body.String())
		}
		byType := map[string]map[string]any{}
		for _, ev := range list {
			m := ev.(map[string]any)
			byType[m["type"].(string)] = m
		}
		if pc, _ := unsignedOf(byType["m.room.topic"])["prev_content"].(map[string]any); pc["topic"] != "first" {
			t.Errorf("topic prev_content = %v, want the first topic", unsignedOf(byType["m.room.topic"])["prev_content"])
		}
		// The replaced name was redacted: its content is served redacted.
		if pc, ok := unsignedOf(byType["m.room.name"])["prev_content"].(map[string]any); !ok || len(pc) != 0 {
			t.Errorf("name prev_content = %v, want the redacted (empty) content", unsignedOf(byType["m.room.name"])["prev_content"])
		}
		members := e.do("GET", roomPath(r.RoomID, "/members"), token, nil)
		e.expect(members, 200, "")
		chunk, _ := members.body["chunk"].([]any)
		if len(chunk) != 1 {
			t.Fatalf("members = %s", members.raw)
		}
		u := unsignedOf(chunk[0])
		if pc, _ := u["prev_content"].(map[string]any); pc["membership"] != "join" || u["prev_sender"] != string(alice.UserID) {
			t.Errorf("member prev_content = %v prev_sender = %v, want the first join", u["prev_content"], u["prev_sender"])
		}
		if c, _ := chunk[0].(map[string]any)["content"].(map[string]any); c["displayname"] != "Alice" {
			t.Errorf("member content = %v", c)
		}
	})
}

func TestLegacyR0PathsAreAliases(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		_, token := e.user("alice")
		who := e.do("GET", "/_matrix/client/r0/account/whoami", token, nil)
		e.expect(who, 200, "")
		if who.str("user_id") != "@alice:hafen.test" {
			t.Errorf("r0 whoami = %s", who.raw)
		}
		created := e.do("POST", "/_matrix/client/r0/createRoom", token, map[string]any{"name": "old bot"})
		e.expect(created, 200, "")
		roomID := mid.RoomID(created.str("room_id"))
		e.expect(e.do("PUT", "/_matrix/client/r0/rooms/"+url.PathEscape(string(roomID))+"/send/m.room.message/t1", token,
			map[string]any{"msgtype": "m.text", "body": "hi"}), 200, "")
		msgs := e.do("GET", "/_matrix/client/r0/rooms/"+url.PathEscape(string(roomID))+"/messages?dir=b&limit=1", token, nil)
		e.expect(msgs, 200, "")
		e.expect(e.do("GET", "/_matrix/client/r0/sync", token, nil), 200, "")
		// Endpoints added after r0 have no r0 path.
		e.expect(e.do("POST", "/_matrix/client/r0/knock/"+url.PathEscape(string(roomID)), token, map[string]any{}), 404, "M_UNRECOGNIZED")
	})
}

// withSync gives the environment's server the sync service, reading the
// room service's event stream as cmd/hafen wires it, except that each
// read receipt is shown to syncs at once (clientsync's tests cover the
// pacing), so that a sync right after a receipt shows it. Call it before
// any event is sent.
func withSync(t *testing.T, e *roomEnv) { withSyncConfig(t, e, nil) }

// withSyncConfig is withSync with the sync service's configuration
// changed by change (when not nil) before it starts.
func withSyncConfig(t *testing.T, e *roomEnv, change func(*clientsync.Config)) {
	t.Helper()
	svc, ok := e.srv.Rooms.Service.(*room.Service)
	if !ok || e.events == nil {
		t.Fatalf("room service %T has no event stream", e.srv.Rooms.Service)
	}
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := clientsync.Config{DB: e.db, Rooms: svc, Logger: logger, Stream: e.events, ReceiptInterval: -1}
	if change != nil {
		change(&cfg)
	}
	syncer := clientsync.New(cfg)
	if err := syncer.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(syncer.Stop)
	e.srv.Sync = syncer
}

// syncRoom returns the joined room of a /sync response body.
func syncRoom(t *testing.T, body map[string]any, roomID mid.RoomID) map[string]any {
	t.Helper()
	rooms, _ := body["rooms"].(map[string]any)
	join, _ := rooms["join"].(map[string]any)
	r, ok := join[string(roomID)].(map[string]any)
	if !ok {
		t.Fatalf("room %s not in rooms.join of the sync response", roomID)
	}
	return r
}

func TestSyncTimelineCompatibilityAndMembership(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		alice, aliceToken := e.user("alice")
		bob, bobToken := e.user("bob")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		before := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "before bob"))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))

		// Initial sync, not limited: limited is false and prev_batch is set.
		initial := e.do("GET", "/_matrix/client/v3/sync", bobToken, nil)
		e.expect(initial, 200, "")
		tl, _ := syncRoom(t, initial.body, r.RoomID)["timeline"].(map[string]any)
		if l, ok := tl["limited"]; !ok || l != false {
			t.Errorf("initial sync: timeline.limited = %v (present %v), want false", l, ok)
		}
		if pb, _ := tl["prev_batch"].(string); pb == "" {
			t.Errorf("initial sync: timeline.prev_batch missing")
		}
		// spec v1.11: unsigned.membership is bob's membership at each event.
		events := eventsByID(tl["events"])
		if got := unsignedOf(events[string(before.EventID)])["membership"]; got != "leave" {
			t.Errorf("initial sync: membership at the message before bob joined = %v, want leave", got)
		}
		for id, ev := range events {
			if ev["type"] == "m.room.member" && ev["state_key"] == string(bob.UserID) {
				if got := unsignedOf(ev)["membership"]; got != "join" {
					t.Errorf("initial sync: membership at bob's join %s = %v, want join", id, got)
				}
			}
		}

		// Incremental sync with one new event.
		after := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "after bob"))
		next := e.do("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(initial.str("next_batch")), bobToken, nil)
		e.expect(next, 200, "")
		tl, _ = syncRoom(t, next.body, r.RoomID)["timeline"].(map[string]any)
		if l, ok := tl["limited"]; !ok || l != false {
			t.Errorf("incremental sync: timeline.limited = %v (present %v), want false", l, ok)
		}
		if pb, _ := tl["prev_batch"].(string); pb == "" {
			t.Errorf("incremental sync: timeline.prev_batch missing")
		}
		if got := unsignedOf(eventsByID(tl["events"])[string(after.EventID)])["membership"]; got != "join" {
			t.Errorf("incremental sync: membership at the new message = %v, want join", got)
		}
		// alice sees her own membership: join at both messages.
		async := e.do("GET", "/_matrix/client/v3/sync", aliceToken, nil)
		e.expect(async, 200, "")
		tl, _ = syncRoom(t, async.body, r.RoomID)["timeline"].(map[string]any)
		for _, id := range []mid.EventID{before.EventID, after.EventID} {
			if got := unsignedOf(eventsByID(tl["events"])[string(id)])["membership"]; got != "join" {
				t.Errorf("alice's sync: membership at %s = %v, want join", id, got)
			}
		}
	})
}

func TestFormerMemberReadsStateAtLeave(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		bob, bobToken := e.user("bob")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		must[*mautrix.RespSendEvent](t, "topic")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "old"}))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
		must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, r.RoomID))
		must[*mautrix.RespSendEvent](t, "topic")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "new"}))

		res := e.do("GET", roomPath(r.RoomID, "/state/m.room.topic/"), bobToken, nil)
		e.expect(res, 200, "")
		if res.str("topic") != "old" {
			t.Errorf("former member's topic = %s, want the one at their leave", res.raw)
		}
		res = e.do("GET", roomPath(r.RoomID, "/state/m.room.member/"+url.PathEscape(string(bob.UserID))), bobToken, nil)
		e.expect(res, 200, "")
		if res.str("membership") != "leave" {
			t.Errorf("former member's own member state = %s, want their leave", res.raw)
		}
		e.expect(e.do("GET", roomPath(r.RoomID, "/state/m.room.name/"), bobToken, nil), 404, "M_NOT_FOUND")
		res = e.do("GET", roomPath(r.RoomID, "/members"), bobToken, nil)
		e.expect(res, 200, "")
		if n := len(res.body["chunk"].([]any)); n != 2 {
			t.Errorf("former member's member list has %d members, want 2", n)
		}
	})
}
