package clientapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// getState reads a room's /state as a list of events by type and state
// key.
func getState(t *testing.T, e *roomEnv, roomID mid.RoomID, token string) map[[2]string]map[string]any {
	t.Helper()
	req := httptest.NewRequest("GET", roomPath(roomID, "/state"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var list []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil {
		t.Fatalf("GET /state = %d %s", rec.Code, rec.Body.String())
	}
	out := map[[2]string]map[string]any{}
	for _, ev := range list {
		typ, _ := ev["type"].(string)
		sk, _ := ev["state_key"].(string)
		out[[2]string{typ, sk}] = ev
	}
	return out
}

// The current state is served from the room head once read: what changes
// after that (new state events, a redaction of a current state event, a
// rename) shows in the following reads.
func TestCurrentStateReadsFollowChanges(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, token := e.user("alice")
		ctx := context.Background()
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
		topic1 := must[*mautrix.RespSendEvent](t, "topic 1")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "first"}))
		before := getState(t, e, r.RoomID, token)
		if c, _ := before[[2]string{"m.room.topic", ""}]["content"].(map[string]any); c["topic"] != "first" {
			t.Fatalf("topic before = %v", before[[2]string{"m.room.topic", ""}])
		}
		e.expect(e.do("GET", roomPath(r.RoomID, "/members"), token, nil), 200, "")

		old := must[*mautrix.RespSendEvent](t, "old message")(alice.SendText(ctx, r.RoomID, "old"))
		topic2 := must[*mautrix.RespSendEvent](t, "topic 2")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "second"}))
		if got := getState(t, e, r.RoomID, token)[[2]string{"m.room.topic", ""}]; got["event_id"] != string(topic2.EventID) {
			t.Fatalf("topic = %v, want %s", got, topic2.EventID)
		}
		custom := must[*mautrix.RespSendEvent](t, "custom")(alice.SendStateEvent(ctx, r.RoomID, mevent.Type{Type: "org.example.thing", Class: mevent.StateEventType}, "k", map[string]any{"v": 1}))
		red := must[*mautrix.RespSendEvent](t, "redact")(alice.RedactEvent(ctx, r.RoomID, topic2.EventID))
		must[any](t, "rename")(nil, alice.SetDisplayName(ctx, "Alice"))
		e.drainProfiles()

		latest := must[*mautrix.RespSendEvent](t, "new message")(alice.SendText(ctx, r.RoomID, "new"))

		after := getState(t, e, r.RoomID, token)
		topic := after[[2]string{"m.room.topic", ""}]
		if topic["event_id"] != string(topic2.EventID) {
			t.Fatalf("topic after = %v, want %s", topic, topic2.EventID)
		}
		if c, _ := topic["content"].(map[string]any); len(c) != 0 {
			t.Errorf("redacted topic content = %v, want {}", c)
		}
		u := unsignedOf(topic)
		if rb, _ := u["redacted_because"].(map[string]any); rb["event_id"] != string(red.EventID) {
			t.Errorf("topic redacted_because = %v, want %s", u["redacted_because"], red.EventID)
		}
		if pc, _ := u["prev_content"].(map[string]any); pc["topic"] != "first" {
			t.Errorf("topic prev_content = %v, want the first topic", u["prev_content"])
		}
		if u["replaces_state"] != string(topic1.EventID) {
			t.Errorf("topic replaces_state = %v, want %s (spec v1.19)", u["replaces_state"], topic1.EventID)
		}
		if ev := after[[2]string{"org.example.thing", "k"}]; ev["event_id"] != string(custom.EventID) || unsignedOf(ev)["membership"] != "join" {
			t.Errorf("custom state event = %v, want %s with membership join", ev, custom.EventID)
		}
		me := after[[2]string{"m.room.member", string(alice.UserID)}]
		if c, _ := me["content"].(map[string]any); c["displayname"] != "Alice" {
			t.Errorf("own member event in /state = %v", me)
		}
		members := e.do("GET", roomPath(r.RoomID, "/members"), token, nil)
		e.expect(members, 200, "")
		chunk, _ := members.body["chunk"].([]any)
		if len(chunk) != 1 {
			t.Fatalf("members = %s", members.raw)
		}
		if c, _ := chunk[0].(map[string]any)["content"].(map[string]any); c["displayname"] != "Alice" {
			t.Errorf("member content after rename = %v", c)
		}
		if pc, _ := unsignedOf(chunk[0])["prev_content"].(map[string]any); pc["membership"] != "join" {
			t.Errorf("member prev_content = %v, want the first join", unsignedOf(chunk[0])["prev_content"])
		}

		// /context shows the state after its last event: the current
		// state at the newest message, an older one before topic 2.
		for _, c := range []struct {
			event mid.EventID
			topic mid.EventID
		}{{latest.EventID, topic2.EventID}, {old.EventID, ""}} {
			ctxResp := e.do("GET", roomPath(r.RoomID, "/context/"+url.PathEscape(string(c.event))+"?limit=0"), token, nil)
			e.expect(ctxResp, 200, "")
			var topic map[string]any
			for _, ev := range ctxResp.body["state"].([]any) {
				if m := ev.(map[string]any); m["type"] == "m.room.topic" {
					topic = m
				}
			}
			if c.topic == "" {
				if content, _ := topic["content"].(map[string]any); content["topic"] != "first" {
					t.Errorf("context of the old message: topic = %v, want the first", topic)
				}
				continue
			}
			if rb, _ := unsignedOf(topic)["redacted_because"].(map[string]any); topic["event_id"] != string(c.topic) || rb["event_id"] != string(red.EventID) {
				t.Errorf("context of the newest message: topic = %v, want %s redacted by %s", topic, c.topic, red.EventID)
			}
		}
	})
}
