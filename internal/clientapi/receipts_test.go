package clientapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
)

// TestReceiptsAndReadMarkers posts receipts and read markers through the
// router, on every backend, including the permission cases.
func TestReceiptsAndReadMarkers(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, at := e.user("alice")
		_, bt := e.user("bob")
		created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"}))
		sent := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, created.RoomID, "hello"))
		room := url.PathEscape(string(created.RoomID))
		ev := url.PathEscape(string(sent.EventID))
		receipt := func(typ, eventID string) string {
			return "/_matrix/client/v3/rooms/" + room + "/receipt/" + typ + "/" + eventID
		}

		e.expect(e.do("POST", receipt("m.read", ev), at, map[string]any{}), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.read", ev), at, nil), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.read.private", ev), at, map[string]any{"thread_id": "main"}), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.read", ev), at, map[string]any{"thread_id": string(sent.EventID)}), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.fully_read", ev), at, map[string]any{}), http.StatusOK, "")
		marker := e.do("GET", "/_matrix/client/v3/user/"+url.PathEscape(string(alice.UserID))+"/rooms/"+room+"/account_data/m.fully_read", at, nil)
		if marker.str("event_id") != string(sent.EventID) {
			t.Errorf("m.fully_read = %s", marker.raw)
		}

		// A threaded receipt names the event's thread: the main timeline
		// for a thread's root or an event outside threads, the root for
		// an event of its thread. A reaction is in its parent's thread,
		// which is not checked.
		reply := must[*mautrix.RespSendEvent](t, "send reply")(alice.SendMessageEvent(ctx, created.RoomID, mevent.EventMessage,
			map[string]any{"msgtype": "m.text", "body": "in the thread", "m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": sent.EventID}}))
		other := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, created.RoomID, "another root"))
		reaction := must[*mautrix.RespSendEvent](t, "react")(alice.SendMessageEvent(ctx, created.RoomID, mevent.EventReaction,
			map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": reply.EventID, "key": "👍"}}))
		replyPath := url.PathEscape(string(reply.EventID))
		e.expect(e.do("POST", receipt("m.read", replyPath), at, map[string]any{"thread_id": string(sent.EventID)}), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.read", replyPath), at, map[string]any{"thread_id": "main"}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", replyPath), at, map[string]any{"thread_id": string(other.EventID)}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", ev), at, map[string]any{"thread_id": string(other.EventID)}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", url.PathEscape(string(reaction.EventID))), at, map[string]any{"thread_id": string(sent.EventID)}), http.StatusOK, "")

		// Errors: unknown type, bad thread, unknown event, malformed IDs.
		e.expect(e.do("POST", receipt("m.unread", ev), at, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", ev), at, map[string]any{"thread_id": "nothread"}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", ev), at, map[string]any{"thread_id": 123}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", ev), at, map[string]any{"thread_id": nil}), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.fully_read", ev), at, map[string]any{"thread_id": "main"}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", receipt("m.read", url.PathEscape("$unknown:hafen.test")), at, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", receipt("m.read", "notanevent"), at, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		// Bob is not in the room: his receipts and markers are refused.
		e.expect(e.do("POST", receipt("m.read", ev), bt, nil), http.StatusForbidden, "M_FORBIDDEN")
		markers := "/_matrix/client/v3/rooms/" + room + "/read_markers"
		e.expect(e.do("POST", markers, bt, map[string]any{"m.fully_read": string(sent.EventID)}), http.StatusForbidden, "M_FORBIDDEN")

		e.expect(e.do("POST", markers, at, map[string]any{"m.fully_read": string(sent.EventID), "m.read": string(sent.EventID), "m.read.private": string(sent.EventID)}), http.StatusOK, "")
		e.expect(e.do("POST", markers, at, map[string]any{}), http.StatusOK, "")
		// Members the endpoint does not define are ignored, as mautrix's
		// SetReadMarkers sends some (com.beeper.*).
		e.expect(e.do("POST", markers, at, map[string]any{"m.fully_read": string(sent.EventID), "com.beeper.fully_read.allow_backward": true,
			"org.matrix.msc2285.hidden": false, "com.example.extra": map[string]any{}}), http.StatusOK, "")
		must[struct{}](t, "mautrix SetReadMarkers")(struct{}{}, alice.SetReadMarkers(ctx, created.RoomID, &mautrix.ReqSetReadMarkers{FullyRead: sent.EventID, AllowBackward: true}))
		e.expect(e.do("POST", markers, at, map[string]any{"m.read": 5}), http.StatusBadRequest, "M_BAD_JSON")
		e.expect(e.do("POST", markers, at, map[string]any{"m.read": "nope"}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("POST", markers, at, map[string]any{"m.read": "$unknown:hafen.test"}), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("POST", markers, at, `[]`), http.StatusBadRequest, "M_BAD_JSON")

		// Once the thread reply (its place cached by the receipts above)
		// is redacted, clients see no relation: a main timeline receipt
		// for it is taken, as is one for its thread.
		must[*mautrix.RespSendEvent](t, "redact reply")(alice.RedactEvent(ctx, created.RoomID, reply.EventID))
		e.expect(e.do("POST", receipt("m.read", replyPath), at, map[string]any{"thread_id": "main"}), http.StatusOK, "")
		e.expect(e.do("POST", receipt("m.read", replyPath), at, map[string]any{"thread_id": string(sent.EventID)}), http.StatusOK, "")
	})
}

// typingRecorder records SetTyping calls.
type typingRecorder struct{ calls []string }

func (r *typingRecorder) SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	r.calls = append(r.calls, fmt.Sprintf("%s %s %v %v", roomID, user, typing, timeout))
}

// TestTypingPermissions checks the typing endpoint's checks through the
// router, on every backend.
func TestTypingPermissions(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		rec := &typingRecorder{}
		e.srv.Typing = rec
		ctx := context.Background()
		alice, at := e.user("alice")
		_, bt := e.user("bob")
		created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"}))
		path := func(user string) string {
			return "/_matrix/client/v3/rooms/" + url.PathEscape(string(created.RoomID)) + "/typing/" + url.PathEscape(user)
		}
		e.expect(e.do("PUT", path(string(alice.UserID)), at, map[string]any{"typing": true, "timeout": 30000}), http.StatusOK, "")
		e.expect(e.do("PUT", path(string(alice.UserID)), at, map[string]any{"typing": true, "timeout": 86400000}), http.StatusOK, "")
		e.expect(e.do("PUT", path(string(alice.UserID)), at, map[string]any{"typing": false}), http.StatusOK, "")
		e.expect(e.do("PUT", path(string(alice.UserID)), at, map[string]any{"typing": true}), http.StatusOK, "")
		want := []string{
			fmt.Sprintf("%s %s true 30s", created.RoomID, alice.UserID),
			fmt.Sprintf("%s %s true %v", created.RoomID, alice.UserID, clientsync.MaxTypingTimeout),
			fmt.Sprintf("%s %s false 0s", created.RoomID, alice.UserID),
			fmt.Sprintf("%s %s true %v", created.RoomID, alice.UserID, clientsync.DefaultTypingTimeout),
		}
		if !slices.Equal(rec.calls, want) {
			t.Errorf("typing calls = %q, want %q", rec.calls, want)
		}
		e.expect(e.do("PUT", path(string(alice.UserID)), bt, map[string]any{"typing": true}), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("PUT", path("@bob:hafen.test"), bt, map[string]any{"typing": true}), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("PUT", path(string(alice.UserID)), at, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(e.do("PUT", path(string(alice.UserID)), at, map[string]any{"typing": true, "timeout": -1}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("PUT", path("nobody"), at, map[string]any{"typing": true}), http.StatusBadRequest, "M_INVALID_PARAM")
		if len(rec.calls) != 4 {
			t.Errorf("refused requests reached sync: %q", rec.calls)
		}
	})
}
