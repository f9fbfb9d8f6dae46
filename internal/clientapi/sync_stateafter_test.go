package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
)

// syncStateContent returns, from a sync room section's batch (state or
// state_after), the content of the event at (typ, stateKey), or nil.
func syncStateContent(section map[string]any, batch, typ, stateKey string) map[string]any {
	b, _ := section[batch].(map[string]any)
	evs, _ := b["events"].([]any)
	for _, raw := range evs {
		ev, _ := raw.(map[string]any)
		if ev["type"] == typ && ev["state_key"] == stateKey {
			c, _ := ev["content"].(map[string]any)
			return c
		}
	}
	return nil
}

// TestSyncUseStateAfter checks use_state_after through the router on each
// backend: state_after replaces state, holds the state at the end of the
// timeline (in full in an initial sync, as changes since the token in an
// incremental one, limited or not), also for a room the user left, and a
// malformed value is refused.
func TestSyncUseStateAfter(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		topic := func(s string) {
			t.Helper()
			must[*mautrix.RespSendEvent](t, "topic")(alice.SendStateEvent(ctx, roomID, mevent.StateTopic, "", map[string]any{"topic": s}))
		}
		say := func(s string) {
			t.Helper()
			must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, s))
		}
		topic("T1")
		topic("T2")
		say("after T2")
		filter := url.QueryEscape(`{"room":{"timeline":{"limit":2}}}`)
		syncPath := func(since string, after bool) string {
			p := "/_matrix/client/v3/sync?filter=" + filter
			if since != "" {
				p += "&since=" + url.QueryEscape(since)
			}
			if after {
				p += "&use_state_after=true"
			}
			return p
		}
		topicIn := func(r map[string]any, batch string) any {
			c := syncStateContent(r, batch, "m.room.topic", "")
			if c == nil {
				return nil
			}
			return c["topic"]
		}

		// Initial sync: state holds T1 (before the timeline [T2, msg]),
		// state_after holds T2 and no state is sent.
		plain := e.do("GET", syncPath("", false), aliceTok, nil)
		e.expect(plain, http.StatusOK, "")
		if r := syncRoom(t, plain.body, roomID); topicIn(r, "state") != "T1" || r["state_after"] != nil {
			t.Errorf("initial sync without use_state_after: topic in state %v, state_after %v", topicIn(r, "state"), r["state_after"])
		}
		initial := e.do("GET", syncPath("", true), aliceTok, nil)
		e.expect(initial, http.StatusOK, "")
		r := syncRoom(t, initial.body, roomID)
		if _, has := r["state"]; has {
			t.Errorf("initial sync with use_state_after has state: %v", r["state"])
		}
		if topicIn(r, "state_after") != "T2" || syncStateContent(r, "state_after", "m.room.member", string(bob.UserID)) == nil {
			t.Errorf("initial state_after: topic %v, bob's member event %v", topicIn(r, "state_after"), syncStateContent(r, "state_after", "m.room.member", string(bob.UserID)))
		}

		// Incremental, not limited, a state change inside the timeline:
		// state_after has it; state would be empty.
		since := initial.str("next_batch")
		say("before T3")
		topic("T3")
		next := e.do("GET", syncPath(since, true), aliceTok, nil)
		e.expect(next, http.StatusOK, "")
		r = syncRoom(t, next.body, roomID)
		tl, _ := r["timeline"].(map[string]any)
		if _, has := r["state"]; has || tl["limited"] != false || topicIn(r, "state_after") != "T3" {
			t.Errorf("incremental sync: state %v, limited %v, topic in state_after %v; want no state, not limited, T3", r["state"], tl["limited"], topicIn(r, "state_after"))
		}
		if syncStateContent(r, "state_after", "m.room.member", string(bob.UserID)) != nil {
			t.Errorf("incremental state_after repeats bob's unchanged member event")
		}

		// Incremental, limited: a rename before the timeline and a topic
		// inside it are both in state_after.
		since = next.str("next_batch")
		must[*mautrix.RespSendEvent](t, "name")(alice.SendStateEvent(ctx, roomID, mevent.StateRoomName, "", map[string]any{"name": "N"}))
		for range 4 {
			say("filler")
		}
		topic("T4")
		say("last")
		limited := e.do("GET", syncPath(since, true), aliceTok, nil)
		e.expect(limited, http.StatusOK, "")
		r = syncRoom(t, limited.body, roomID)
		tl, _ = r["timeline"].(map[string]any)
		name := syncStateContent(r, "state_after", "m.room.name", "")
		if tl["limited"] != true || name == nil || name["name"] != "N" || topicIn(r, "state_after") != "T4" {
			t.Errorf("limited sync: limited %v, name %v, topic %v; want true, N, T4", tl["limited"], name, topicIn(r, "state_after"))
		}
		// Without use_state_after, the topic inside the timeline is not in
		// state (which ends at the timeline's start).
		old := e.do("GET", syncPath(since, false), aliceTok, nil)
		if r := syncRoom(t, old.body, roomID); topicIn(r, "state") != nil || syncStateContent(r, "state", "m.room.name", "") == nil {
			t.Errorf("limited sync without use_state_after: topic %v, name %v; want no topic, the name", topicIn(r, "state"), syncStateContent(r, "state", "m.room.name", ""))
		}

		// A room bob leaves: rooms.leave carries state_after with his
		// leave.
		bobSince := e.do("GET", "/_matrix/client/v3/sync", bobTok, nil).str("next_batch")
		topic("T5")
		must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, roomID))
		left := e.do("GET", syncPath(bobSince, true), bobTok, nil)
		e.expect(left, http.StatusOK, "")
		rooms, _ := left.body["rooms"].(map[string]any)
		leave, _ := rooms["leave"].(map[string]any)
		lr, _ := leave[string(roomID)].(map[string]any)
		member := syncStateContent(lr, "state_after", "m.room.member", string(bob.UserID))
		if _, has := lr["state"]; has || member == nil || member["membership"] != "leave" || topicIn(lr, "state_after") != "T5" {
			t.Errorf("left room: state %v, bob's membership %v, topic %v; want no state, leave, T5", lr["state"], member, topicIn(lr, "state_after"))
		}

		e.expect(e.do("GET", "/_matrix/client/v3/sync?use_state_after=yes", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")

		// MSC4222's names, which matrix-js-sdk uses: the same state_after
		// under its name; the spec's parameter wins when both come.
		unstable := e.do("GET", syncPath("", false)+"&org.matrix.msc4222.use_state_after=true", aliceTok, nil)
		e.expect(unstable, http.StatusOK, "")
		r = syncRoom(t, unstable.body, roomID)
		if _, has := r["state"]; has || r["state_after"] != nil || topicIn(r, "org.matrix.msc4222.state_after") != "T5" {
			t.Errorf("MSC4222 sync: state %v, state_after %v, topic %v; want only MSC4222's state_after with T5", r["state"], r["state_after"], topicIn(r, "org.matrix.msc4222.state_after"))
		}
		both := e.do("GET", syncPath("", true)+"&org.matrix.msc4222.use_state_after=true", aliceTok, nil)
		if r := syncRoom(t, both.body, roomID); topicIn(r, "state_after") != "T5" || r["org.matrix.msc4222.state_after"] != nil {
			t.Errorf("both names: state_after topic %v, MSC4222's %v; want the spec's only", topicIn(r, "state_after"), r["org.matrix.msc4222.state_after"])
		}
	})
}
