package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"

	"github.com/hafenchat/hafen/internal/store"
)

// TestReportContent reports events, rooms and users through the router,
// on every backend, checks what is stored for the operator and what is
// refused: events of rooms the reporter is not joined to or may not see,
// unknown rooms and users, bad reasons and scores.
func TestReportContent(t *testing.T) {
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
		early := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "before bob")).EventID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		bad := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "something bad")).EventID
		room := url.PathEscape(string(roomID))
		eventPath := func(ev string) string { return "/_matrix/client/v3/rooms/" + room + "/report/" + url.PathEscape(ev) }
		roomPath := "/_matrix/client/v3/rooms/" + room + "/report"
		userPath := func(u string) string { return "/_matrix/client/v3/users/" + url.PathEscape(u) + "/report" }

		if err := bob.ReportEvent(ctx, roomID, bad, "this makes me sad"); err != nil {
			t.Fatalf("report event with mautrix: %v", err)
		}
		e.expect(e.do("POST", eventPath(string(bad)), bobTok, map[string]any{"score": -100}), http.StatusOK, "")
		e.expect(e.do("POST", roomPath, eveTok, map[string]any{"reason": "spam room"}), http.StatusOK, "")
		e.expect(e.do("POST", userPath(string(alice.UserID)), eveTok, map[string]any{"reason": ""}), http.StatusOK, "")
		e.expect(e.do("POST", userPath("@someone:elsewhere.example"), eveTok, map[string]any{"reason": "remote"}), http.StatusOK, "")

		// Refused.
		e.expect(e.do("POST", eventPath(string(bad)), eveTok, map[string]any{"reason": "not in room"}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", eventPath(string(early)), bobTok, map[string]any{"reason": "hidden from bob"}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", eventPath("$unknown:hafen.test"), bobTok, map[string]any{"reason": "x"}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", eventPath("nonsense"), bobTok, map[string]any{"reason": "x"}), http.StatusBadRequest, "M_INVALID_PARAM")
		// The legacy score left the spec in v1.18: one out of its old range,
		// or of another type, is ignored.
		e.expect(e.do("POST", eventPath(string(bad)), bobTok, map[string]any{"score": 5}), http.StatusOK, "")
		e.expect(e.do("POST", eventPath(string(bad)), bobTok, map[string]any{"score": "bad"}), http.StatusOK, "")
		e.expect(e.do("POST", eventPath(string(bad)), bobTok, map[string]any{"reason": strings.Repeat("x", 1001)}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", eventPath(string(bad)), bobTok, map[string]any{"reason": 7}), http.StatusBadRequest, "M_BAD_JSON")
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape("!nope:hafen.test")+"/report", bobTok, map[string]any{"reason": "x"}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", roomPath, bobTok, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("POST", userPath("@ghost:hafen.test"), bobTok, map[string]any{"reason": "x"}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", userPath("ghost"), bobTok, map[string]any{"reason": "x"}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", userPath(string(alice.UserID)), bobTok, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("POST", roomPath, aliceTok, `{`), http.StatusBadRequest, "M_NOT_JSON")

		got, err := e.db.Reports(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			kind, reporter, room, event, user, reason string
			score                                     int64
		}
		want := []row{
			{store.ReportEvent, string(bob.UserID), string(roomID), string(bad), "", "this makes me sad", 1},
			{store.ReportEvent, string(bob.UserID), string(roomID), string(bad), "", "", -100},
			{store.ReportRoom, "@eve:hafen.test", string(roomID), "", "", "spam room", 1},
			{store.ReportUser, "@eve:hafen.test", "", "", string(alice.UserID), "", 1},
			{store.ReportUser, "@eve:hafen.test", "", "", "@someone:elsewhere.example", "remote", 1},
			{store.ReportEvent, string(bob.UserID), string(roomID), string(bad), "", "", 1}, // score 5, ignored
			{store.ReportEvent, string(bob.UserID), string(roomID), string(bad), "", "", 1}, // score "bad", ignored
		}
		if len(got) != len(want) {
			t.Fatalf("stored %d reports, want %d: %+v", len(got), len(want), got)
		}
		for i, g := range got {
			score := int64(1)
			if g.Score != nil {
				score = *g.Score
			}
			r := row{g.Kind, string(g.Reporter), string(g.RoomID), string(g.EventID), string(g.UserID), g.Reason, score}
			if r != want[i] || g.ReceivedTS == 0 {
				t.Errorf("report %d = %+v, want %+v", i, r, want[i])
			}
		}
	})
}
