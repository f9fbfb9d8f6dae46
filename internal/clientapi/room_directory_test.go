package clientapi

import (
	"context"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// TestRoomDirectory follows Client-Server API § Listing rooms: the
// visibility of a room in the directory (GET for anyone, PUT for the
// room's moderators; unknown rooms 404), and /publicRooms GET and POST
// with the summary fields, the filter, room types and pagination both ways.
func TestRoomDirectory(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, tok := e.user("alice")
		bob, bobTok := e.user("bob")
		_ = bob
		lobby := must[*mautrix.RespCreateRoom](t, "create lobby")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Visibility: "public", Preset: "public_chat", Name: "The Lobby", Topic: "Everyone welcome",
			RoomAliasName: "lobby",
			InitialState: []*mevent.Event{
				{Type: mevent.StateHistoryVisibility, Content: mevent.Content{Raw: map[string]any{"history_visibility": "world_readable"}}},
				{Type: mevent.StateGuestAccess, Content: mevent.Content{Raw: map[string]any{"guest_access": "can_join"}}},
				{Type: mevent.StateRoomAvatar, Content: mevent.Content{Raw: map[string]any{"url": "mxc://hafen.test/abc"}}},
			},
		})).RoomID
		space := must[*mautrix.RespCreateRoom](t, "create space")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Visibility: "public", Preset: "public_chat", Name: "Space Station",
			CreationContent: map[string]any{"type": "m.space"},
		})).RoomID
		private := must[*mautrix.RespCreateRoom](t, "create private")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Secret"})).RoomID
		// Bob joins the lobby: it has the most members and comes first.
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, lobby))

		vis := func(roomID mid.RoomID) string {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/directory/list/room/"+url.PathEscape(string(roomID)), "", nil)
			e.expect(res, 200, "")
			return res.str("visibility")
		}
		if got := vis(lobby); got != "public" {
			t.Errorf("visibility of a room created public = %q", got)
		}
		if got := vis(private); got != "private" {
			t.Errorf("visibility of a room created private = %q", got)
		}
		e.expect(e.do("GET", "/_matrix/client/v3/directory/list/room/"+url.PathEscape("!nope:hafen.test"), "", nil), 404, "M_NOT_FOUND")
		e.expect(e.do("PUT", "/_matrix/client/v3/directory/list/room/"+url.PathEscape("!nope:hafen.test"), tok, map[string]any{"visibility": "public"}), 404, "M_NOT_FOUND")
		privPath := "/_matrix/client/v3/directory/list/room/" + url.PathEscape(string(private))
		e.expect(e.do("PUT", privPath, "", map[string]any{"visibility": "public"}), 401, "M_MISSING_TOKEN")
		e.expect(e.do("PUT", privPath, bobTok, map[string]any{"visibility": "public"}), 403, "M_FORBIDDEN")
		e.expect(e.do("PUT", "/_matrix/client/v3/directory/list/room/"+url.PathEscape(string(lobby)), bobTok, map[string]any{"visibility": "private"}), 403, "M_FORBIDDEN")
		e.expect(e.do("PUT", privPath, tok, map[string]any{"visibility": "hidden"}), 400, "M_INVALID_PARAM")
		// The body's visibility defaults to public.
		e.expect(e.do("PUT", privPath, tok, map[string]any{}), 200, "")
		if got := vis(private); got != "public" {
			t.Errorf("visibility after PUT {} = %q, want public", got)
		}
		e.expect(e.do("PUT", privPath, tok, map[string]any{"visibility": "private"}), 200, "")
		if got := vis(private); got != "private" {
			t.Errorf("visibility after PUT private = %q", got)
		}

		// Anyone may read the directory, without an access token.
		anon, err := mautrix.NewClient(e.url, "", "")
		if err != nil {
			t.Fatal(err)
		}
		all := must[*mautrix.RespPublicRooms](t, "publicRooms")(anon.PublicRooms(ctx, &mautrix.ReqPublicRooms{}))
		if len(all.Chunk) != 2 || all.TotalRoomCountEstimate != 2 || all.NextBatch != "" || all.PrevBatch != "" {
			t.Fatalf("publicRooms = %+v, want the lobby and the space on one page", all)
		}
		l := all.Chunk[0]
		if l.RoomID != lobby || l.Name != "The Lobby" || l.Topic != "Everyone welcome" || l.NumJoinedMembers != 2 ||
			!l.WorldReadable || !l.GuestCanJoin || l.JoinRule != "public" || l.CanonicalAlias != "#lobby:hafen.test" ||
			l.AvatarURL != "mxc://hafen.test/abc" || l.RoomType != "" {
			t.Errorf("lobby chunk = %+v", l)
		}
		if s := all.Chunk[1]; s.RoomID != space || s.RoomType != "m.space" || s.NumJoinedMembers != 1 || s.WorldReadable || s.GuestCanJoin {
			t.Errorf("space chunk = %+v", s)
		}

		// Pages of one: forward with next_batch, back with prev_batch.
		p1 := must[*mautrix.RespPublicRooms](t, "page 1")(anon.PublicRooms(ctx, &mautrix.ReqPublicRooms{Limit: 1}))
		if len(p1.Chunk) != 1 || p1.Chunk[0].RoomID != lobby || p1.NextBatch == "" || p1.PrevBatch != "" {
			t.Fatalf("page 1 = %+v", p1)
		}
		p2 := must[*mautrix.RespPublicRooms](t, "page 2")(anon.PublicRooms(ctx, &mautrix.ReqPublicRooms{Limit: 1, Since: p1.NextBatch}))
		if len(p2.Chunk) != 1 || p2.Chunk[0].RoomID != space || p2.NextBatch != "" || p2.PrevBatch == "" {
			t.Fatalf("page 2 = %+v", p2)
		}
		back := must[*mautrix.RespPublicRooms](t, "back")(anon.PublicRooms(ctx, &mautrix.ReqPublicRooms{Limit: 1, Since: p2.PrevBatch}))
		if len(back.Chunk) != 1 || back.Chunk[0].RoomID != lobby || back.PrevBatch != "" {
			t.Fatalf("page before page 2 = %+v", back)
		}
		e.expect(e.do("GET", "/_matrix/client/v3/publicRooms?since=garbage", "", nil), 400, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v3/publicRooms?limit=-1", "", nil), 400, "M_INVALID_PARAM")

		// POST: filter and room types; it needs an access token.
		e.expect(e.do("POST", "/_matrix/client/v3/publicRooms", "", map[string]any{}), 401, "M_MISSING_TOKEN")
		post := func(body map[string]any) []string {
			t.Helper()
			res := e.do("POST", "/_matrix/client/v3/publicRooms", bobTok, body)
			e.expect(res, 200, "")
			var ids []string
			chunk, _ := res.body["chunk"].([]any)
			for _, c := range chunk {
				ids = append(ids, c.(map[string]any)["room_id"].(string))
			}
			return ids
		}
		for _, tc := range []struct {
			name   string
			filter map[string]any
			want   []mid.RoomID
		}{
			{"term in the name, any case", map[string]any{"generic_search_term": "lOBBy"}, []mid.RoomID{lobby}},
			{"term in the topic", map[string]any{"generic_search_term": "welcome"}, []mid.RoomID{lobby}},
			{"term nowhere", map[string]any{"generic_search_term": "secret"}, nil},
			{"spaces only", map[string]any{"room_types": []any{"m.space"}}, []mid.RoomID{space}},
			{"rooms without a type (null)", map[string]any{"room_types": []any{nil}}, []mid.RoomID{lobby}},
			{"both", map[string]any{"room_types": []any{nil, "m.space"}}, []mid.RoomID{lobby, space}},
		} {
			got := post(map[string]any{"filter": tc.filter})
			if len(got) != len(tc.want) {
				t.Errorf("%s: rooms = %v, want %v", tc.name, got, tc.want)
				continue
			}
			for i := range got {
				if got[i] != string(tc.want[i]) {
					t.Errorf("%s: rooms = %v, want %v", tc.name, got, tc.want)
				}
			}
		}
		e.expect(e.do("POST", "/_matrix/client/v3/publicRooms", bobTok, map[string]any{"filter": map[string]any{"generic_search_term": 5}}), 400, "M_BAD_JSON")
		e.expect(e.do("POST", "/_matrix/client/v3/publicRooms?server=bad%20name", bobTok, map[string]any{}), 400, "M_INVALID_PARAM")
		// This server's own name is the local directory.
		if got := post(map[string]any{"limit": 1}); len(got) != 1 {
			t.Errorf("limit 1 = %v", got)
		}
		res := e.do("GET", "/_matrix/client/v3/publicRooms?server=hafen.test", "", nil)
		e.expect(res, 200, "")
		// Another server needs a token, and this test server does not
		// federate: 502.
		e.expect(e.do("GET", "/_matrix/client/v3/publicRooms?server=elsewhere.test", "", nil), 401, "M_MISSING_TOKEN")
		e.expect(e.do("GET", "/_matrix/client/v3/publicRooms?server=elsewhere.test", bobTok, nil), 502, "M_UNKNOWN")

		// A room everyone left drops out of the list.
		must[*mautrix.RespLeaveRoom](t, "alice leaves")(alice.LeaveRoom(ctx, space))
		all = must[*mautrix.RespPublicRooms](t, "publicRooms")(anon.PublicRooms(ctx, nil))
		if len(all.Chunk) != 1 || all.Chunk[0].RoomID != lobby {
			t.Errorf("after the space emptied: %+v", all.Chunk)
		}
	})
}
