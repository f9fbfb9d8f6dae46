package clientapi

import (
	"net/url"
	"slices"
	"testing"
)

// TestSpaceHierarchy follows Client-Server API § Spaces (GET /hierarchy):
// a depth-first walk in the spec's child order, showing only the rooms
// the user may see (joined or invited, public, knockable, world readable,
// restricted to a space the user is in) and skipping the subtree of the
// others, with max_depth, suggested_only, limit and from, and the errors
// of the endpoint.
func TestSpaceHierarchy(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		_, bobTok := e.user("bob")
		create := func(body map[string]any) string {
			t.Helper()
			res := e.do("POST", "/_matrix/client/v3/createRoom", tok, body)
			e.expect(res, 200, "")
			return res.str("room_id")
		}
		joinRules := func(rule string, allow ...string) map[string]any {
			c := map[string]any{"join_rule": rule}
			if len(allow) > 0 {
				var list []any
				for _, a := range allow {
					list = append(list, map[string]any{"type": "m.room_membership", "room_id": a})
				}
				c["allow"] = list
			}
			return map[string]any{"type": "m.room.join_rules", "state_key": "", "content": c}
		}
		space := map[string]any{"type": "m.space"}
		root := create(map[string]any{"preset": "private_chat", "name": "Root", "creation_content": space})
		public := create(map[string]any{"preset": "public_chat", "name": "Public"})
		secret := create(map[string]any{"preset": "private_chat", "name": "Secret", "creation_content": space})
		restricted := create(map[string]any{"preset": "private_chat", "name": "Members", "initial_state": []any{joinRules("restricted", root)}})
		knock := create(map[string]any{"preset": "private_chat", "name": "Knock", "initial_state": []any{joinRules("knock")}})
		readable := create(map[string]any{"preset": "private_chat", "name": "Readable", "initial_state": []any{
			map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "world_readable"}}}})
		sub := create(map[string]any{"preset": "public_chat", "name": "Sub", "creation_content": space})
		deep := create(map[string]any{"preset": "public_chat", "name": "Deep"})
		underSecret := create(map[string]any{"preset": "public_chat", "name": "Under secret"})

		addChild := func(parent, child string, content map[string]any) {
			t.Helper()
			content["via"] = []string{"hafen.test"}
			e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(parent)+"/state/m.space.child/"+url.PathEscape(child), tok, content), 200, "")
		}
		// The spec's order: valid order values first (by value), then the
		// others by timestamp; the public room, added last, comes first by
		// its order, and sub, with none, comes after every ordered child.
		// (Children added in the same millisecond would tie on the
		// timestamp, so only one child goes without an order.)
		addChild(root, sub, map[string]any{"suggested": true})
		addChild(root, secret, map[string]any{"order": "b"})
		addChild(root, restricted, map[string]any{"suggested": true, "order": "c"})
		addChild(root, knock, map[string]any{"order": "d"})
		addChild(root, readable, map[string]any{"order": "e"})
		addChild(root, public, map[string]any{"order": "a"})
		addChild(sub, deep, map[string]any{})
		addChild(secret, underSecret, map[string]any{})
		// A child without via is no child.
		e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(root)+"/state/m.space.child/"+url.PathEscape(deep), tok, map[string]any{"via": []string{}}), 200, "")

		hier := func(token, query string) ([]string, string) {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy"+query, token, nil)
			e.expect(res, 200, "")
			var ids []string
			rooms, _ := res.body["rooms"].([]any)
			for _, r := range rooms {
				m := r.(map[string]any)
				ids = append(ids, m["room_id"].(string))
				if _, ok := m["children_state"].([]any); !ok {
					t.Errorf("room %s has no children_state array", m["room_id"])
				}
			}
			return ids, res.str("next_batch")
		}

		// Bob is not in the private root: 403, as for an unknown room.
		e.expect(e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy", bobTok, nil), 403, "M_FORBIDDEN")
		e.expect(e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape("!nope:hafen.test")+"/hierarchy", tok, nil), 403, "M_FORBIDDEN")

		// Alice, in every room, sees the whole tree but the subtree of the
		// child without via.
		all, next := hier(tok, "")
		want := []string{root, public, secret, underSecret, restricted, knock, readable, sub, deep}
		if !slices.Equal(all, want) || next != "" {
			t.Errorf("alice's hierarchy = %v (next %q), want %v", all, next, want)
		}

		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(root)+"/invite", tok, map[string]any{"user_id": "@bob:hafen.test"}), 200, "")
		// Invited to the root: bob may see it; the restricted room needs
		// him joined to the root.
		got, _ := hier(bobTok, "")
		want = []string{root, public, knock, readable, sub, deep}
		if !slices.Equal(got, want) {
			t.Errorf("bob invited: hierarchy = %v, want %v", got, want)
		}
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(root)+"/join", bobTok, map[string]any{}), 200, "")
		got, _ = hier(bobTok, "")
		want = []string{root, public, restricted, knock, readable, sub, deep}
		if !slices.Equal(got, want) {
			t.Errorf("bob joined: hierarchy = %v, want %v", got, want)
		}
		got, _ = hier(bobTok, "?max_depth=1")
		if want := []string{root, public, restricted, knock, readable, sub}; !slices.Equal(got, want) {
			t.Errorf("max_depth=1: %v, want %v", got, want)
		}
		got, _ = hier(bobTok, "?max_depth=0")
		if want := []string{root}; !slices.Equal(got, want) {
			t.Errorf("max_depth=0: %v, want %v", got, want)
		}
		got, _ = hier(bobTok, "?suggested_only=true")
		if want := []string{root, restricted, sub}; !slices.Equal(got, want) {
			t.Errorf("suggested_only: %v, want %v (a space's children need suggesting too)", got, want)
		}

		// Pages of two add up to the whole walk.
		var paged []string
		from := ""
		for i := 0; i < 10; i++ {
			q := "?limit=2"
			if from != "" {
				q += "&from=" + url.QueryEscape(from)
			}
			ids, n := hier(bobTok, q)
			if len(ids) > 2 {
				t.Fatalf("page of limit 2 has %d rooms", len(ids))
			}
			paged = append(paged, ids...)
			if n == "" {
				break
			}
			from = n
			if i == 0 {
				e.expect(e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy?limit=2&max_depth=1&from="+url.QueryEscape(n), bobTok, nil), 400, "M_INVALID_PARAM")
				e.expect(e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy?limit=2&suggested_only=true&from="+url.QueryEscape(n), bobTok, nil), 400, "M_INVALID_PARAM")
			}
		}
		if want := []string{root, public, restricted, knock, readable, sub, deep}; !slices.Equal(paged, want) {
			t.Errorf("paged hierarchy = %v, want %v", paged, want)
		}

		for _, q := range []string{"?limit=0", "?limit=x", "?max_depth=-1", "?suggested_only=yes", "?from=garbage"} {
			e.expect(e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy"+q, bobTok, nil), 400, "M_INVALID_PARAM")
		}
		e.expect(e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy", "", nil), 401, "M_MISSING_TOKEN")
	})
}
