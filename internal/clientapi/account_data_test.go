package clientapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// TestAccountDataAndTags sets, reads and refuses account data and tags
// through the router, on every backend.
func TestAccountDataAndTags(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice := e.register("alice", "pw-alice")
		bob := e.register("bob", "pw-bob")
		at, bt := alice.str("access_token"), bob.str("access_token")
		a := url.PathEscape(alice.str("user_id"))
		global := "/_matrix/client/v3/user/" + a + "/account_data/"
		room := "/_matrix/client/v3/user/" + a + "/rooms/" + url.PathEscape("!r:hafen.test")

		e.expect(e.do("GET", global+"im.example.cfg", at, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("PUT", global+"im.example.cfg", at, map[string]any{"theme": "dark"}), http.StatusOK, "")
		e.expect(e.do("PUT", global+"im.example.cfg", at, map[string]any{"theme": "light"}), http.StatusOK, "")
		if got := e.do("GET", global+"im.example.cfg", at, nil); got.str("theme") != "light" {
			t.Errorf("global account data = %s", got.raw)
		}
		e.expect(e.do("PUT", room+"/account_data/im.example.cfg", at, map[string]any{"pinned": true}), http.StatusOK, "")
		if got := e.do("GET", room+"/account_data/im.example.cfg", at, nil); got.body["pinned"] != true {
			t.Errorf("room account data = %s", got.raw)
		}
		// Room and global data are separate.
		e.expect(e.do("GET", room+"/account_data/other", at, nil), http.StatusNotFound, "M_NOT_FOUND")

		// Another user's account data: 403, whatever the method.
		e.expect(e.do("GET", global+"im.example.cfg", bt, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("PUT", global+"im.example.cfg", bt, map[string]any{}), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("GET", room+"/account_data/im.example.cfg", bt, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("PUT", room+"/tags/u.work", bt, map[string]any{}), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("GET", room+"/tags", bt, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("DELETE", room+"/tags/u.work", bt, nil), http.StatusForbidden, "M_FORBIDDEN")

		// Types the server controls, bodies that are no object, bad IDs.
		e.expect(e.do("PUT", global+"m.push_rules", at, map[string]any{}), http.StatusMethodNotAllowed, "M_BAD_JSON")
		e.expect(e.do("PUT", room+"/account_data/m.fully_read", at, map[string]any{"event_id": "$x"}), http.StatusMethodNotAllowed, "M_BAD_JSON")
		e.expect(e.do("PUT", global+"im.example.cfg", at, `[1]`), http.StatusBadRequest, "M_BAD_JSON")
		e.expect(e.do("PUT", global+"im.example.cfg", at, `{`), http.StatusBadRequest, "M_NOT_JSON")
		e.expect(e.do("PUT", "/_matrix/client/v3/user/"+a+"/rooms/notaroom/account_data/x", at, map[string]any{}), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v3/user/notauser/account_data/x", at, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", global+"im.example.cfg", "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")

		// m.push_rules reads as the user's rules.
		if got := e.do("GET", global+"m.push_rules", at, nil); got.status != http.StatusOK || got.body["global"] == nil {
			t.Errorf("m.push_rules = %d %s", got.status, got.raw)
		}

		// Tags are m.tag room account data.
		e.expect(e.do("PUT", room+"/tags/u.work", at, map[string]any{"order": 0.25}), http.StatusOK, "")
		e.expect(e.do("PUT", room+"/tags/m.favourite", at, map[string]any{}), http.StatusOK, "")
		e.expect(e.do("PUT", room+"/tags/u.bad", at, map[string]any{"order": "first"}), http.StatusBadRequest, "M_BAD_JSON")
		e.expect(e.do("DELETE", room+"/tags/m.favourite", at, nil), http.StatusOK, "")
		e.expect(e.do("DELETE", room+"/tags/never.set", at, nil), http.StatusOK, "")
		got := e.do("GET", room+"/tags", at, nil)
		if want := `{"tags":{"u.work":{"order":0.25}}}`; got.raw != want {
			t.Errorf("tags = %s, want %s", got.raw, want)
		}
		tag := e.do("GET", room+"/account_data/m.tag", at, nil)
		var c struct {
			Tags map[string]json.RawMessage `json:"tags"`
		}
		if err := json.Unmarshal([]byte(tag.raw), &c); err != nil || len(c.Tags) != 1 {
			t.Errorf("m.tag = %s", tag.raw)
		}
	})
}
