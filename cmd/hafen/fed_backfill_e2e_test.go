package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// messagesBack pages a room's /messages backwards from the newest event to
// the start, limit events a page, and returns the events, newest first.
func messagesBack(t *testing.T, base, token string, roomID id.RoomID, limit int) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	from := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("pagination does not end")
		}
		path := fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=%d", url.PathEscape(string(roomID)), limit)
		if from != "" {
			path += "&from=" + url.QueryEscape(from)
		}
		var resp struct {
			Chunk []json.RawMessage `json:"chunk"`
			End   string            `json:"end"`
		}
		csCall(t, base, token, http.MethodGet, path, nil, &resp)
		out = append(out, resp.Chunk...)
		if resp.End == "" {
			return out
		}
		for _, e := range decodeEvents(t, resp.Chunk) {
			if e.Type == "m.room.create" {
				t.Errorf("page %d holds the room's creation and still has an end token (the spec omits it)", page)
			}
		}
		from = resp.End
	}
}

// clientEvent is what the tests read of a client event.
type clientEvent struct {
	EventID  id.EventID `json:"event_id"`
	Type     string     `json:"type"`
	StateKey *string    `json:"state_key"`
	Content  struct {
		Body string `json:"body"`
	} `json:"content"`
	Unsigned struct {
		Membership string `json:"membership"`
	} `json:"unsigned"`
}

func decodeEvents(t *testing.T, raws []json.RawMessage) []clientEvent {
	t.Helper()
	out := make([]clientEvent, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// bodiesOf returns the bodies of the messages among evs, in order.
func bodiesOf(evs []clientEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "m.room.message" {
			out = append(out, e.Content.Body)
		}
	}
	return out
}

// syncBodies returns the message bodies of a room's timeline in a sync
// of the user from since ("" for a full sync) and the next_batch.
func syncBodies(t *testing.T, base, token string, roomID id.RoomID, since string) ([]string, string) {
	t.Helper()
	var resp struct {
		NextBatch string `json:"next_batch"`
		Rooms     struct {
			Join map[id.RoomID]struct {
				Timeline struct {
					Events []json.RawMessage `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	path := "/_matrix/client/v3/sync?timeout=0&filter=" + url.QueryEscape(`{"room":{"timeline":{"limit":200}}}`)
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	csCall(t, base, token, http.MethodGet, path, nil, &resp)
	return bodiesOf(decodeEvents(t, resp.Rooms.Join[roomID].Timeline.Events)), resp.NextBatch
}

// TestBackfillAfterRemoteJoinEndToEnd: bob of server B joins a room of
// server A that has history. B fetches the recent history right after the
// join and the rest when bob's /messages reaches the start of what B has;
// bob pages the whole history, every message once and in order, down to
// the room's creation. None of it arrives in sync as new, and B's next
// event follows the join, not the history. In a room whose history is
// visible to members only from their join, bob sees nothing from before.
func TestBackfillAfterRemoteJoinEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			const n = 30
			var want []string
			var newest id.EventID
			for i := range n {
				body := fmt.Sprintf("old %d", i)
				newest = sendMessage(t, a.base, alice.AccessToken, roomID, fmt.Sprintf("old%d", i), body)
				want = append(want, body)
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/state/m.room.topic/",
				map[string]any{"topic": "history"}, &struct{}{})
			// A hidden room: history visible to members from their join on.
			var hidden struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
				"preset": "public_chat", "initial_state": []map[string]any{{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}},
			}, &hidden)
			sendMessage(t, a.base, alice.AccessToken, hidden.RoomID, "secret", "secret before the join")

			_, since := syncBodies(t, b.base, bob.AccessToken, roomID, "")
			for _, r := range []id.RoomID{roomID, hidden.RoomID} {
				csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(r))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
			}
			// The history fetched at the join is not new to sync.
			if got, _ := syncBodies(t, b.base, bob.AccessToken, roomID, since); len(got) != 0 {
				t.Errorf("incremental sync after the join has messages %v, want only the join", got)
			}
			if got, _ := syncBodies(t, b.base, bob.AccessToken, roomID, ""); len(got) != 0 {
				t.Errorf("full sync after the join has messages %v, want none of the history as timeline", got)
			}
			_, since = syncBodies(t, b.base, bob.AccessToken, roomID, "")
			// The join fetches recent history by itself: the newest old
			// message is there before bob pages back.
			waitFor(t, "B fetches recent history after the join", func() bool {
				return csCall(t, b.base, bob.AccessToken, http.MethodGet, roomPath(roomID, "/event/"+url.PathEscape(string(newest))), nil, nil) == 200
			})

			evs := decodeEvents(t, messagesBack(t, b.base, bob.AccessToken, roomID, 7))
			got := bodiesOf(evs)
			slices.Reverse(got)
			if !slices.Equal(got, want) {
				t.Errorf("bob's history = %v, want %v", got, want)
			}
			if len(evs) == 0 || evs[len(evs)-1].Type != "m.room.create" {
				t.Errorf("history does not end with the room's creation: %+v", evs)
			}
			seen := map[id.EventID]bool{}
			var types []string
			for i, e := range evs {
				// Bob's membership at each event: joined at his join,
				// not yet in the room at the history before it.
				want := "leave"
				if i == 0 {
					want = "join"
				}
				if e.Unsigned.Membership != want {
					t.Errorf("unsigned.membership of %s %s = %q", e.Type, e.EventID, e.Unsigned.Membership)
				}
				if seen[e.EventID] {
					t.Errorf("event %s paged twice", e.EventID)
				}
				seen[e.EventID] = true
				types = append(types, e.Type)
			}
			if !slices.Contains(types, "m.room.topic") || !slices.Contains(types, "m.room.power_levels") {
				t.Errorf("history types %v lack the room's state events", types)
			}
			// Nothing of the backfill reached sync as new.
			if got, _ := syncBodies(t, b.base, bob.AccessToken, roomID, since); len(got) != 0 {
				t.Errorf("incremental sync after /messages backfilled has messages %v, want none", got)
			}

			// B's next event follows the room's present (bob's join), not
			// the history: A, asked over federation, has it with bob's
			// join as its prev event.
			joinID := evs[0].EventID
			if evs[0].Type != "m.room.member" {
				t.Fatalf("newest event is %s, want bob's join", evs[0].Type)
			}
			after := sendMessage(t, b.base, bob.AccessToken, roomID, "after", "after the backfill")
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "after the backfill")
			var ev struct {
				PDUs []struct {
					PrevEvents []id.EventID `json:"prev_events"`
				} `json:"pdus"`
			}
			asA := newFedPeer(t, a)
			if st, code := asA.fedGet(t, b.name, http.MethodGet, "/_matrix/federation/v1/event/"+url.PathEscape(string(after)), nil, &ev); st != 200 {
				t.Fatalf("GET /event from B = %d %s", st, code)
			}
			if len(ev.PDUs) != 1 || !slices.Equal(ev.PDUs[0].PrevEvents, []id.EventID{joinID}) {
				t.Errorf("B's event after the backfill has prev_events %+v, want [%s]", ev.PDUs, joinID)
			}

			// The hidden room's history stays hidden.
			hiddenEvs := decodeEvents(t, messagesBack(t, b.base, bob.AccessToken, hidden.RoomID, 10))
			for _, body := range bodiesOf(hiddenEvs) {
				if strings.Contains(body, "secret") {
					t.Errorf("bob sees %q from before his join in a room visible from the join on", body)
				}
			}
		})
	}
}
