package clientapi

import (
	"net/url"
	"strings"
	"testing"
)

const backupAlg = "m.megolm_backup.v1.curve25519-aes-sha2"

func backupKey(index, forwarded int, verified bool, data string) map[string]any {
	return map[string]any{"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified, "session_data": map[string]any{"ciphertext": data}}
}

// TestKeyBackup follows "Server-side key backups": versions are created,
// read, updated and deleted; keys are written to the current version only
// (403 M_WRONG_ROOM_KEYS_VERSION with current_version otherwise), at the
// three levels, keeping per session the key the replacement rules prefer
// (is_verified, then the lower first_message_index, then the lower
// forwarded_count); etag changes with the keys and count counts them; a
// user never reaches another user's backup.
func TestKeyBackup(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		_, bobTok := e.user("bob")
		const base = "/_matrix/client/v3/room_keys"
		room1, room2 := "!one:hafen.test", "!two:hafen.test"
		keyPath := func(room, session, version string) string {
			p := base + "/keys"
			if room != "" {
				p += "/" + url.PathEscape(room)
			}
			if session != "" {
				p += "/" + url.PathEscape(session)
			}
			return p + "?version=" + version
		}

		e.expect(e.do("GET", base+"/version", tok, nil), 404, "M_NOT_FOUND")
		auth := map[string]any{"public_key": "abcdefg", "signatures": map[string]any{}}
		res := e.do("POST", base+"/version", tok, map[string]any{"algorithm": backupAlg, "auth_data": auth})
		e.expect(res, 200, "")
		if v := res.str("version"); v != "1" {
			t.Fatalf("first version = %q, want 1", v)
		}
		cur := e.do("GET", base+"/version", tok, nil)
		e.expect(cur, 200, "")
		if cur.str("version") != "1" || cur.str("algorithm") != backupAlg || cur.body["count"] != 0.0 || cur.str("etag") == "" ||
			lookup(cur.body, "auth_data", "public_key") != "abcdefg" {
			t.Fatalf("current version = %s", cur.raw)
		}

		put := func(room, session string, body any) resp {
			t.Helper()
			r := e.do("PUT", keyPath(room, session, "1"), tok, body)
			e.expect(r, 200, "")
			return r
		}
		stored := func() string {
			t.Helper()
			r := e.do("GET", keyPath(room1, "s1", "1"), tok, nil)
			e.expect(r, 200, "")
			s, _ := lookup(r.body, "session_data", "ciphertext").(string)
			return s
		}
		r1 := put(room1, "s1", backupKey(5, 1, false, "A"))
		if r1.body["count"] != 1.0 {
			t.Fatalf("count after one key = %v", r1.body["count"])
		}
		tests := []struct {
			name string
			key  map[string]any
			want string
		}{
			{"unverified, higher first_message_index: kept", backupKey(6, 0, false, "B"), "A"},
			{"unverified, same index, more forwards: kept", backupKey(5, 2, false, "C"), "A"},
			{"unverified, same index and forwards: kept", backupKey(5, 1, false, "D"), "A"},
			{"unverified, same index, fewer forwards: replaced", backupKey(5, 0, false, "E"), "E"},
			{"unverified, lower index: replaced", backupKey(3, 4, false, "F"), "F"},
			{"verified, higher index: replaced", backupKey(9, 9, true, "G"), "G"},
			{"unverified, lower index after verified: kept", backupKey(0, 0, false, "H"), "G"},
			{"verified, lower index: replaced", backupKey(8, 9, true, "I"), "I"},
		}
		for _, tc := range tests {
			before := e.do("GET", base+"/version/1", tok, nil).str("etag")
			r := put(room1, "s1", tc.key)
			if got := stored(); got != tc.want {
				t.Errorf("%s: stored %q, want %q", tc.name, got, tc.want)
			}
			// The etag changes exactly when the key is replaced.
			if changed, replaced := r.str("etag") != before, strings.HasSuffix(tc.name, "replaced"); changed != replaced {
				t.Errorf("%s: etag %s → %s, want changed = %v", tc.name, before, r.str("etag"), replaced)
			}
		}

		r := put(room1, "", map[string]any{"sessions": map[string]any{"s2": backupKey(0, 0, false, "x"), "s3": backupKey(0, 0, false, "y")}})
		if r.body["count"] != 3.0 {
			t.Errorf("count after a room's keys = %v, want 3", r.body["count"])
		}
		r = put("", "", map[string]any{"rooms": map[string]any{room2: map[string]any{"sessions": map[string]any{"t1": backupKey(0, 0, true, "z")}}}})
		if r.body["count"] != 4.0 {
			t.Errorf("count after all rooms' keys = %v, want 4", r.body["count"])
		}
		all := e.do("GET", keyPath("", "", "1"), tok, nil)
		e.expect(all, 200, "")
		if lookup(all.body, "rooms", room1, "sessions", "s3", "session_data", "ciphertext") != "y" || lookup(all.body, "rooms", room2, "sessions", "t1", "is_verified") != true {
			t.Errorf("GET all keys = %s", all.raw)
		}
		one := e.do("GET", keyPath(room1, "", "1"), tok, nil)
		e.expect(one, 200, "")
		if s, _ := one.body["sessions"].(map[string]any); len(s) != 3 {
			t.Errorf("GET room keys = %s, want 3 sessions", one.raw)
		}
		empty := e.do("GET", keyPath("!none:hafen.test", "", "1"), tok, nil)
		e.expect(empty, 200, "")
		if s, ok := empty.body["sessions"].(map[string]any); !ok || len(s) != 0 {
			t.Errorf("GET keys of a room without keys = %s, want empty sessions", empty.raw)
		}
		e.expect(e.do("GET", keyPath(room1, "nope", "1"), tok, nil), 404, "M_NOT_FOUND")

		// Malformed requests.
		e.expect(e.do("PUT", base+"/keys/"+url.PathEscape(room1)+"/s1", tok, backupKey(0, 0, true, "v")), 400, "M_MISSING_PARAM")
		e.expect(e.do("PUT", keyPath("not-a-room", "s1", "1"), tok, backupKey(0, 0, true, "v")), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", keyPath(room1, "s1", "1"), tok, map[string]any{"first_message_index": 0}), 400, "M_BAD_JSON")
		e.expect(e.do("POST", base+"/version", tok, map[string]any{"auth_data": auth}), 400, "M_MISSING_PARAM")
		e.expect(e.do("POST", base+"/version", tok, map[string]any{"algorithm": backupAlg, "auth_data": "x"}), 400, "M_INVALID_PARAM")

		// A new version becomes current: writes to the old one are refused.
		res = e.do("POST", base+"/version", tok, map[string]any{"algorithm": backupAlg, "auth_data": auth})
		e.expect(res, 200, "")
		if res.str("version") != "2" {
			t.Fatalf("second version = %q, want 2", res.str("version"))
		}
		wrong := e.do("PUT", keyPath(room1, "s9", "1"), tok, backupKey(0, 0, true, "v"))
		e.expect(wrong, 403, "M_WRONG_ROOM_KEYS_VERSION")
		if wrong.str("current_version") != "2" {
			t.Errorf("current_version = %q, want 2: %s", wrong.str("current_version"), wrong.raw)
		}
		if old := e.do("GET", base+"/version/1", tok, nil); old.body["count"] != 4.0 {
			t.Errorf("the old version = %s, want its 4 keys", old.raw)
		}

		// Updating auth_data.
		e.expect(e.do("PUT", base+"/version/2", tok, map[string]any{"algorithm": backupAlg, "auth_data": auth, "version": "3"}), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", base+"/version/2", tok, map[string]any{"algorithm": "org.example.other", "auth_data": auth}), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", base+"/version/9", tok, map[string]any{"algorithm": backupAlg, "auth_data": auth}), 404, "M_NOT_FOUND")
		e.expect(e.do("PUT", base+"/version/2", tok, map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{"public_key": "new"}, "version": "2"}), 200, "")
		if got := lookup(e.do("GET", base+"/version/2", tok, nil).body, "auth_data", "public_key"); got != "new" {
			t.Errorf("auth_data after update = %v, want new", got)
		}

		// Deleting keys at the three levels.
		del := e.do("DELETE", keyPath(room1, "s1", "1"), tok, nil)
		e.expect(del, 200, "")
		if del.body["count"] != 3.0 || del.str("etag") == r.str("etag") {
			t.Errorf("delete one key = %s, want count 3 and a new etag", del.raw)
		}
		del = e.do("DELETE", keyPath(room1, "", "1"), tok, nil)
		if del.body["count"] != 1.0 {
			t.Errorf("delete a room's keys = %s, want count 1", del.raw)
		}
		del = e.do("DELETE", keyPath("", "", "1"), tok, nil)
		if del.body["count"] != 0.0 {
			t.Errorf("delete all keys = %s, want count 0", del.raw)
		}

		// Another user reaches none of it.
		e.expect(e.do("GET", base+"/version/1", bobTok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("GET", base+"/version", bobTok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("GET", keyPath("", "", "1"), bobTok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("PUT", keyPath(room1, "s1", "2"), bobTok, backupKey(0, 0, true, "v")), 404, "M_NOT_FOUND")
		e.expect(e.do("DELETE", base+"/version/2", bobTok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("DELETE", keyPath("", "", "2"), bobTok, nil), 404, "M_NOT_FOUND")

		// Deleting a version, twice; the previous one is current again.
		e.expect(e.do("DELETE", base+"/version/2", tok, nil), 200, "")
		e.expect(e.do("DELETE", base+"/version/2", tok, nil), 200, "")
		e.expect(e.do("DELETE", base+"/version/99", tok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("GET", base+"/version/2", tok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("GET", keyPath("", "", "2"), tok, nil), 404, "M_NOT_FOUND")
		if v := e.do("GET", base+"/version", tok, nil).str("version"); v != "1" {
			t.Errorf("current version after deleting 2 = %q, want 1", v)
		}
		res = e.do("POST", base+"/version", tok, map[string]any{"algorithm": backupAlg, "auth_data": auth})
		if res.str("version") != "3" {
			t.Errorf("version after a deleted one = %q, want 3 (never reused)", res.str("version"))
		}
	})
}
