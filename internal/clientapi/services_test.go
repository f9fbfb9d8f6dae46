package clientapi

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// Tests of the endpoints that go through the account, profile, directory
// and filter services and room.Service.Forget, on every backend.

// createRoom creates a public room as the token's user and returns its ID.
func (e *roomEnv) createRoom(token string) string {
	e.t.Helper()
	res := e.do("POST", "/_matrix/client/v3/createRoom", token, map[string]any{"preset": "public_chat"})
	e.expect(res, 200, "")
	return res.str("room_id")
}

// TestClientUserIDsChecked follows the user ID grammar of the appendices:
// a user ID a client names (invite, kick, ban, unban, profile, member
// state, createRoom's invite list and additional creators, the filter
// path) must have a non-empty localpart of
// U+0021 to U+007E, else 400 M_INVALID_PARAM and nothing is written. The
// historical leniency covers users already in the room, who can only have
// come through other servers' events: they can still be banned.
func TestClientUserIDsChecked(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		roomID := e.createRoom(tok)
		rooms := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
		for _, bad := range []string{"@:hafen.test", "@a b:hafen.test", "@émile:hafen.test"} {
			for _, op := range []string{"invite", "kick", "ban", "unban"} {
				res := e.do("POST", rooms+"/"+op, tok, map[string]any{"user_id": bad})
				if res.status != 400 || res.str("errcode") != "M_INVALID_PARAM" {
					t.Errorf("%s %q = %d %s, want 400 M_INVALID_PARAM", op, bad, res.status, res.raw)
				}
			}
			res := e.do("PUT", rooms+"/state/m.room.member/"+url.PathEscape(bad), tok, map[string]any{"membership": "invite"})
			if res.status != 400 || res.str("errcode") != "M_INVALID_PARAM" {
				t.Errorf("PUT member state %q = %d %s, want 400 M_INVALID_PARAM", bad, res.status, res.raw)
			}
			res = e.do("GET", "/_matrix/client/v3/profile/"+url.PathEscape(bad), "", nil)
			if res.status != 400 || res.str("errcode") != "M_INVALID_PARAM" {
				t.Errorf("GET profile %q = %d %s, want 400 M_INVALID_PARAM", bad, res.status, res.raw)
			}
			res = e.do("POST", "/_matrix/client/v3/createRoom", tok, map[string]any{"invite": []string{bad}})
			if res.status != 400 || res.str("errcode") != "M_INVALID_PARAM" {
				t.Errorf("createRoom inviting %q = %d %s, want 400 M_INVALID_PARAM", bad, res.status, res.raw)
			}
			res = e.do("POST", "/_matrix/client/v3/createRoom", tok, map[string]any{"creation_content": map[string]any{"additional_creators": []string{bad}}})
			if res.status != 400 || res.str("errcode") != "M_INVALID_PARAM" {
				t.Errorf("createRoom with additional creator %q = %d %s, want 400 M_INVALID_PARAM", bad, res.status, res.raw)
			}
			res = e.do("POST", "/_matrix/client/v3/user/"+url.PathEscape(bad)+"/filter", tok, map[string]any{})
			if res.status != 400 || res.str("errcode") != "M_INVALID_PARAM" {
				t.Errorf("POST filter of %q = %d %s, want 400 M_INVALID_PARAM", bad, res.status, res.raw)
			}
		}
		members := e.do("GET", rooms+"/members", tok, nil)
		e.expect(members, 200, "")
		if chunk, _ := members.body["chunk"].([]any); len(chunk) != 1 {
			t.Fatalf("the room has %d member events, want only alice's: %s", len(chunk), members.raw)
		}

		// A historical user ID already in the room (as if invited by
		// another server's event) can still be banned.
		historical := id.UserID("@Old Timer:hafen.test")
		_, err := e.srv.Rooms.Service.ChangeMembership(context.Background(), id.RoomID(roomID), room.MembershipChange{
			Sender: "@alice:hafen.test", Target: historical, Membership: room.MembershipInvite,
		})
		if err != nil {
			t.Fatalf("invite %s through the event path: %v", historical, err)
		}
		res := e.do("POST", rooms+"/ban", tok, map[string]any{"user_id": string(historical)})
		e.expect(res, 200, "")
	})
}

// TestCanonicalAliasChecked follows PUT /rooms/{roomId}/state for
// m.room.canonical_alias: each alias the event adds must be valid (400
// M_INVALID_PARAM) and point to the room (400 M_BAD_ALIAS); aliases
// already in the event and empty content are not checked.
func TestCanonicalAliasChecked(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		roomA, roomB := e.createRoom(tok), e.createRoom(tok)
		for alias, roomID := range map[string]string{"#a:hafen.test": roomA, "#b:hafen.test": roomB, "#a2:hafen.test": roomA} {
			e.expect(e.do("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape(alias), tok, map[string]any{"room_id": roomID}), 200, "")
		}
		path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomA) + "/state/m.room.canonical_alias"
		tests := []struct {
			name    string
			content any
			status  int
			errcode string
		}{
			{"another room's alias", map[string]any{"alias": "#b:hafen.test"}, 400, "M_BAD_ALIAS"},
			{"unknown alias", map[string]any{"alias": "#nope:hafen.test"}, 400, "M_BAD_ALIAS"},
			{"another server's alias", map[string]any{"alias": "#a:other.test"}, 400, "M_BAD_ALIAS"},
			{"malformed alias", map[string]any{"alias": "a:hafen.test"}, 400, "M_INVALID_PARAM"},
			{"alias not a string", map[string]any{"alias": 5}, 400, "M_INVALID_PARAM"},
			{"malformed alt alias", map[string]any{"alias": "#a:hafen.test", "alt_aliases": []string{"#a2"}}, 400, "M_INVALID_PARAM"},
			{"alt_aliases not a list", map[string]any{"alt_aliases": "#a2:hafen.test"}, 400, "M_INVALID_PARAM"},
			{"another room's alt alias", map[string]any{"alias": "#a:hafen.test", "alt_aliases": []string{"#b:hafen.test"}}, 400, "M_BAD_ALIAS"},
			{"the room's aliases", map[string]any{"alias": "#a:hafen.test", "alt_aliases": []string{"#a2:hafen.test"}}, 200, ""},
			{"empty content", map[string]any{}, 200, ""},
		}
		for _, tc := range tests {
			res := e.do("PUT", path, tok, tc.content)
			if res.status != tc.status || res.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want %d %s", tc.name, res.status, res.raw, tc.status, tc.errcode)
			}
		}

		// A member without the power to send the event gets the auth
		// rules' 403, whatever the aliases.
		_, bobTok := e.user("bob")
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomA)+"/join", bobTok, map[string]any{}), 200, "")
		e.expect(e.do("PUT", path, bobTok, map[string]any{"alias": "#b:hafen.test"}), 403, "M_FORBIDDEN")
		e.expect(e.do("PUT", path, bobTok, map[string]any{"alias": "bad"}), 403, "M_FORBIDDEN")

		// An alias already in the event is not checked again, even once
		// the directory no longer holds it: clients can still remove
		// others next to it.
		e.expect(e.do("PUT", path, tok, map[string]any{"alias": "#a:hafen.test", "alt_aliases": []string{"#a2:hafen.test"}}), 200, "")
		e.expect(e.do("DELETE", "/_matrix/client/v3/directory/room/"+url.PathEscape("#a:hafen.test"), tok, nil), 200, "")
		e.expect(e.do("PUT", path, tok, map[string]any{"alias": "#a:hafen.test"}), 200, "")
		e.expect(e.do("PUT", path, tok, map[string]any{"alias": "#a:hafen.test", "alt_aliases": []string{"#a2:hafen.test"}}), 200, "")
		got := e.do("GET", path, tok, nil)
		e.expect(got, 200, "")
		if got.str("alias") != "#a:hafen.test" {
			t.Errorf("canonical alias = %s", got.raw)
		}
	})
}

// TestFilterSendersChecked follows the filter definitions: senders and
// not_senders hold user IDs, so a malformed one is 400 M_INVALID_PARAM,
// whether the filter is stored, given inline to /sync or to /messages.
func TestFilterSendersChecked(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		roomID := e.createRoom(tok)
		filters := "/_matrix/client/v3/user/" + url.PathEscape("@alice:hafen.test") + "/filter"
		for _, bad := range []string{"@:hafen.test", "@a b:hafen.test", "alice"} {
			for _, f := range []map[string]any{
				{"room": map[string]any{"timeline": map[string]any{"senders": []string{bad}}}},
				{"room": map[string]any{"state": map[string]any{"not_senders": []string{bad}}}},
				{"presence": map[string]any{"senders": []string{bad}}},
			} {
				e.expect(e.do("POST", filters, tok, f), 400, "M_INVALID_PARAM")
			}
			inline := `{"room":{"timeline":{"senders":["` + bad + `"]}}}`
			e.expect(e.do("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(inline), tok, nil), 400, "M_INVALID_PARAM")
			page := `{"not_senders":["` + bad + `"]}`
			e.expect(e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&filter="+url.QueryEscape(page), tok, nil), 400, "M_INVALID_PARAM")
		}

		// A valid filter is stored and read back.
		res := e.do("POST", filters, tok, map[string]any{"room": map[string]any{"timeline": map[string]any{"senders": []string{"@bob:hafen.test"}}}})
		e.expect(res, 200, "")
		fid := res.str("filter_id")
		got := e.do("GET", filters+"/"+fid, tok, nil)
		e.expect(got, 200, "")
		if got.raw == "" || got.body["room"] == nil {
			t.Errorf("stored filter = %s", got.raw)
		}
		e.expect(e.do("GET", filters+"/999", tok, nil), 404, "M_NOT_FOUND")
		e.expect(e.do("GET", filters+"/x", tok, nil), 404, "M_NOT_FOUND")
	})
}

// TestServicesOnEveryBackend drives the directory, profile and forget
// paths through the router on each backend: alias creation needs a join,
// deletion its creator, a profile change reaches the join events, and
// forgetting needs a leave.
func TestServicesOnEveryBackend(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, alice := e.user("alice")
		_, bob := e.user("bob")
		roomID := e.createRoom(alice)
		rooms := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
		alias := "/_matrix/client/v3/directory/room/" + url.PathEscape("#lobby:hafen.test")

		e.expect(e.do("PUT", alias, bob, map[string]any{"room_id": roomID}), 403, "M_FORBIDDEN")
		e.expect(e.do("PUT", alias, alice, map[string]any{"room_id": roomID}), 200, "")
		e.expect(e.do("PUT", alias, alice, map[string]any{"room_id": roomID}), 409, "M_UNKNOWN")
		e.expect(e.do("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape("#x:other.test"), alice, map[string]any{"room_id": roomID}), 400, "M_INVALID_PARAM")
		res := e.do("GET", alias, "", nil)
		e.expect(res, 200, "")
		if res.str("room_id") != roomID {
			t.Errorf("alias resolves to %s", res.raw)
		}
		e.expect(e.do("POST", "/_matrix/client/v3/join/"+url.PathEscape("#lobby:hafen.test"), bob, map[string]any{}), 200, "")
		e.expect(e.do("DELETE", alias, bob, nil), 403, "M_FORBIDDEN")
		e.expect(e.do("DELETE", alias, alice, nil), 200, "")
		e.expect(e.do("GET", alias, "", nil), 404, "M_NOT_FOUND")

		profile := "/_matrix/client/v3/profile/" + url.PathEscape("@bob:hafen.test")
		e.expect(e.do("PUT", profile+"/displayname", bob, map[string]any{"displayname": "Bob B."}), 200, "")
		e.expect(e.do("PUT", profile+"/displayname", alice, map[string]any{"displayname": "x"}), 403, "M_FORBIDDEN")
		res = e.do("GET", profile, "", nil)
		e.expect(res, 200, "")
		if res.str("displayname") != "Bob B." {
			t.Errorf("profile = %s", res.raw)
		}
		e.drainProfiles()
		member := e.do("GET", rooms+"/state/m.room.member/"+url.PathEscape("@bob:hafen.test"), alice, nil)
		e.expect(member, 200, "")
		if member.str("displayname") != "Bob B." || member.str("membership") != "join" {
			t.Errorf("bob's member event = %s", member.raw)
		}
		e.expect(e.do("DELETE", profile+"/displayname", bob, nil), 200, "")
		e.expect(e.do("GET", profile+"/displayname", "", nil), 404, "M_NOT_FOUND")

		e.expect(e.do("POST", rooms+"/forget", bob, map[string]any{}), 400, "M_UNKNOWN")
		e.expect(e.do("POST", rooms+"/leave", bob, map[string]any{}), 200, "")
		e.expect(e.do("POST", rooms+"/forget", bob, map[string]any{}), 200, "")
	})
}

// TestStoredFilterKeepsEmptyLists: an empty list is not an absent one
// (event_filter.yaml: "If this list is absent then all event types are
// included"), so a stored filter reads back with its empty lists and
// filters /sync as the same filter given inline does.
func TestStoredFilterKeepsEmptyLists(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		_, tok := e.user("alice")
		roomID := e.createRoom(tok)
		filters := "/_matrix/client/v3/user/" + url.PathEscape("@alice:hafen.test") + "/filter"
		for _, def := range []string{
			`{"room":{"timeline":{"types":[]}}}`,
			`{"room":{"timeline":{"senders":[]}}}`,
			`{"room":{"rooms":[]}}`,
		} {
			var f map[string]any
			if err := json.Unmarshal([]byte(def), &f); err != nil {
				t.Fatal(err)
			}
			res := e.do("POST", filters, tok, f)
			e.expect(res, 200, "")
			got := e.do("GET", filters+"/"+res.str("filter_id"), tok, nil)
			e.expect(got, 200, "")
			if got.raw != def {
				t.Errorf("filter %s reads back as %s", def, got.raw)
			}
			timeline := func(filter string) int {
				s := e.do("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(filter), tok, nil)
				e.expect(s, 200, "")
				rooms, _ := s.body["rooms"].(map[string]any)
				join, _ := rooms["join"].(map[string]any)
				r, ok := join[roomID].(map[string]any)
				if !ok {
					return -1
				}
				tl, _ := r["timeline"].(map[string]any)
				evs, _ := tl["events"].([]any)
				return len(evs)
			}
			if inline, stored := timeline(def), timeline(res.str("filter_id")); inline != stored || stored > 0 {
				t.Errorf("filter %s: %d timeline events inline, %d stored; want the same, none (-1: room left out)", def, inline, stored)
			}
		}
	})
}
