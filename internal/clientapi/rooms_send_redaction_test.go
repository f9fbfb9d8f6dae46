package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mid "maunium.net/go/mautrix/id"
)

// TestSendRedaction follows PUT /rooms/{roomId}/send/m.room.redaction
// (spec v1.18, MSC4169) on every backend and in a room version before and
// after v11 (redacts moved into content): the event names its target in
// content.redacts, the target is redacted as by /redact, a retry with the
// same transaction ID answers the same event, and a redaction without
// content.redacts is 400 M_BAD_JSON.
func TestSendRedaction(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, token := e.user("alice")
		for _, version := range []mid.RoomVersion{"10", "11"} {
			roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomVersion: version})).RoomID
			target := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "oops"))
			path := "/_matrix/client/v3/rooms/" + url.PathEscape(string(roomID)) + "/send/m.room.redaction/"
			body := map[string]any{"redacts": string(target.EventID), "reason": "typo"}
			first := e.do("PUT", path+"t1", token, body)
			e.expect(first, http.StatusOK, "")
			again := e.do("PUT", path+"t1", token, body)
			if again.str("event_id") != first.str("event_id") {
				t.Errorf("v%s: retried redaction = %s, want %s", version, again.str("event_id"), first.str("event_id"))
			}
			got := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/event/"+url.PathEscape(string(target.EventID)), token, nil)
			e.expect(got, http.StatusOK, "")
			if c, _ := got.body["content"].(map[string]any); len(c) != 0 {
				t.Errorf("v%s: redacted target content = %v, want {}", version, c)
			}
			if rb, _ := lookup(got.body, "unsigned", "redacted_because").(map[string]any); rb["event_id"] != first.str("event_id") {
				t.Errorf("v%s: redacted_because = %v, want %s", version, rb, first.str("event_id"))
			}
			e.expect(e.do("PUT", path+"t2", token, map[string]any{"reason": "no target"}), http.StatusBadRequest, "M_BAD_JSON")

			// The redaction redacted in turn: before v11 it keeps no
			// redacts anywhere; from v11 content.redacts stays, and the
			// top-level copy with it.
			e.expect(e.do("PUT", path+"t3", token, map[string]any{"redacts": first.str("event_id")}), http.StatusOK, "")
			red := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/event/"+url.PathEscape(first.str("event_id")), token, nil)
			e.expect(red, http.StatusOK, "")
			want := ""
			if version == "11" {
				want = string(target.EventID)
			}
			if got := red.str("redacts"); got != want {
				t.Errorf("v%s: redacted redaction has top-level redacts %q, want %q", version, got, want)
			}
		}
	})
}
