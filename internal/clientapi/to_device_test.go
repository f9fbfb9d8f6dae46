package clientapi

import (
	"strings"
	"testing"
)

// TestSendToDeviceRefused follows PUT /sendToDevice/{eventType}/{txnId}:
// malformed requests get 400 with the spec's errcode, an unauthenticated
// one 401, and messages to users or devices that do not exist are
// accepted and dropped (the spec gives no error for them), never a 500.
func TestSendToDeviceRefused(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		path := "/_matrix/client/v3/sendToDevice/org.example.test/"
		tests := []struct {
			name    string
			token   string
			body    any
			status  int
			errcode string
		}{
			{"no messages", tok, map[string]any{}, 400, "M_MISSING_PARAM"},
			{"messages not an object", tok, map[string]any{"messages": []string{}}, 400, "M_BAD_JSON"},
			{"malformed user ID", tok, map[string]any{"messages": map[string]any{"nobody": map[string]any{"D": map[string]any{}}}}, 400, "M_INVALID_PARAM"},
			{"content not an object", tok, map[string]any{"messages": map[string]any{"@bob:hafen.test": map[string]any{"D": "text"}}}, 400, "M_INVALID_PARAM"},
			{"not JSON", tok, "{", 400, "M_NOT_JSON"},
			{"no access token", "", map[string]any{"messages": map[string]any{}}, 401, "M_MISSING_TOKEN"},
			{"unknown user", tok, map[string]any{"messages": map[string]any{"@nobody:hafen.test": map[string]any{"*": map[string]any{}}}}, 200, ""},
			{"unknown device", tok, map[string]any{"messages": map[string]any{"@alice:hafen.test": map[string]any{"NOPE": map[string]any{}}}}, 200, ""},
			{"remote user", tok, map[string]any{"messages": map[string]any{"@bob:remote.test": map[string]any{"D": map[string]any{}}}}, 200, ""},
		}
		for i, tc := range tests {
			res := e.do("PUT", path+"txn"+string(rune('a'+i)), tc.token, tc.body)
			if res.status != tc.status || res.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want %d %s", tc.name, res.status, res.raw, tc.status, tc.errcode)
			}
		}
		// The event type and transaction ID are bounded as a room
		// event's are (1 to 255 bytes).
		ok := map[string]any{"messages": map[string]any{}}
		long := strings.Repeat("x", 256)
		e.expect(e.do("PUT", "/_matrix/client/v3/sendToDevice/"+long+"/t1", tok, ok), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", path+long, tok, ok), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", path+strings.Repeat("x", 255), tok, ok), 200, "")
	})
}
