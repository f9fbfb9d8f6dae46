package clientapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
)

// TestTimestampToEvent looks events up by timestamp through the router,
// on every backend, in both directions, against the room's history as
// /messages gives it, and checks that history the user may not see is
// skipped and that bad requests are refused.
func TestTimestampToEvent(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		_, eveTok := e.user("eve")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat",
			InitialState: []*mevent.Event{{Type: mevent.StateHistoryVisibility, StateKey: ptr(""),
				Content: mevent.Content{Raw: map[string]any{"history_visibility": "joined"}}}},
		})).RoomID
		for i := range 5 {
			must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, fmt.Sprint("before bob ", i)))
		}
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		for i := range 5 {
			must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, fmt.Sprint("after bob ", i)))
		}
		history := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, roomID, "", "", mautrix.DirectionForward, nil, 100)).Chunk
		// Bob sees the room as /messages shows it to him: not the messages
		// sent before his join.
		bobHistory := must[*mautrix.RespMessages](t, "bob's messages")(bob.Messages(ctx, roomID, "", "", mautrix.DirectionForward, nil, 100)).Chunk
		if len(bobHistory) >= len(history) {
			t.Fatalf("bob sees %d events of %d", len(bobHistory), len(history))
		}
		path := func(ts int64, dir string) string {
			return fmt.Sprintf("/_matrix/client/v1/rooms/%s/timestamp_to_event?ts=%d&dir=%s", url.PathEscape(string(roomID)), ts, dir)
		}
		for _, who := range []struct {
			name    string
			tok     string
			visible []*mevent.Event
		}{{"alice", aliceTok, history}, {"bob", bobTok, bobHistory}} {
			for _, ev := range history {
				for _, ts := range []int64{ev.Timestamp - 1, ev.Timestamp, ev.Timestamp + 1} {
					// Forwards: the first visible event at or after ts;
					// backwards: the last at or before it.
					var first, last string
					for _, h := range who.visible {
						if h.Timestamp >= ts && first == "" {
							first = string(h.ID)
						}
						if h.Timestamp <= ts {
							last = string(h.ID)
						}
					}
					for _, c := range []struct{ dir, want string }{{"f", first}, {"b", last}} {
						r := e.do("GET", path(ts, c.dir), who.tok, nil)
						if c.want == "" {
							e.expect(r, http.StatusNotFound, "M_NOT_FOUND")
							continue
						}
						if got := r.str("event_id"); got != c.want {
							t.Errorf("%s: ts %d dir=%s = %s, want %s", who.name, ts, c.dir, got, c.want)
						}
					}
				}
			}
		}
		end := history[len(history)-1].Timestamp

		// Refused.
		e.expect(e.do("GET", path(end, "b"), eveTok, nil), http.StatusForbidden, "M_FORBIDDEN")
		base := "/_matrix/client/v1/rooms/" + url.PathEscape(string(roomID)) + "/timestamp_to_event"
		e.expect(e.do("GET", base+"?dir=f", aliceTok, nil), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("GET", base+"?ts=1", aliceTok, nil), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("GET", base+"?ts=abc&dir=f", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", base+"?ts=1&dir=x", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v1/rooms/nope/timestamp_to_event?ts=1&dir=f", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
	})
}
