package clientapi

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/userdir"
)

// withUserDir starts the user directory's stream consumer on e's stream
// and returns a function that waits until it has seen every committed
// event.
func withUserDir(t *testing.T, e *roomEnv) (caughtUp func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := userdir.New(userdir.Config{DB: e.db, Stream: e.events, ServerName: "hafen.test", Logger: logger})
	if err := dir.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Stop)
	e.srv.UserDirectory = dir
	return func() {
		t.Helper()
		pos, err := e.db.MaxStreamPos(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.WaitFor(context.Background(), pos); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUserDirectory follows Client-Server API § User directory: a search
// is case-insensitive and matches the start of any word of the display
// name or user ID, over the users who share a room with the searcher and
// those in public rooms, with limit and limited; profile changes,
// memberships and join rule changes are followed.
func TestUserDirectory(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		caughtUp := withUserDir(t, e)
		aliceCli, alice := e.user("alice")
		_, bob := e.user("bob")
		_, carol := e.user("carol")
		_, dave := e.user("dave")
		setName := func(tok, user, name string) {
			t.Helper()
			e.expect(e.do("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(user)+"/displayname", tok, map[string]any{"displayname": name}), 200, "")
			e.drainProfiles()
		}
		setName(bob, "@bob:hafen.test", "Bob Builder")
		setName(carol, "@carol:hafen.test", "Carol Brown")
		create := func(tok, preset string) string {
			t.Helper()
			res := e.do("POST", "/_matrix/client/v3/createRoom", tok, map[string]any{"preset": preset})
			e.expect(res, 200, "")
			return res.str("room_id")
		}
		join := func(tok, roomID string) {
			t.Helper()
			e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/join", tok, map[string]any{}), 200, "")
		}
		shared := create(alice, "private_chat")
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(shared)+"/invite", alice, map[string]any{"user_id": "@bob:hafen.test"}), 200, "")
		join(bob, shared)
		public := create(carol, "public_chat")
		hidden := create(dave, "private_chat")

		search := func(term string, limit int) ([]string, bool) {
			t.Helper()
			caughtUp()
			body := map[string]any{"search_term": term}
			if limit > 0 {
				body["limit"] = limit
			}
			res := e.do("POST", "/_matrix/client/v3/user_directory/search", alice, body)
			e.expect(res, 200, "")
			var ids []string
			for _, r := range res.body["results"].([]any) {
				ids = append(ids, r.(map[string]any)["user_id"].(string))
			}
			limited, _ := res.body["limited"].(bool)
			return ids, limited
		}
		for _, tc := range []struct {
			term string
			want []string
		}{
			{"bob", []string{"@bob:hafen.test"}},
			{"BUI", []string{"@bob:hafen.test"}},
			{"bob build", []string{"@bob:hafen.test"}},
			{"uilder", nil},
			{"@bob:hafen", []string{"@bob:hafen.test"}},
			{"carol", []string{"@carol:hafen.test"}},
			{"dave", nil},
			{"%", nil},
			{"", nil},
		} {
			if got, _ := search(tc.term, 0); !slices.Equal(got, tc.want) {
				t.Errorf("search %q = %v, want %v", tc.term, got, tc.want)
			}
		}
		// "b" finds Bob Builder and Carol Brown, the user sharing a room
		// first.
		if got, limited := search("b", 1); !slices.Equal(got, []string{"@bob:hafen.test"}) || !limited {
			t.Errorf("search b limit 1 = %v limited %v, want [@bob] limited", got, limited)
		}
		if got, limited := search("b", 5); len(got) != 2 || limited {
			t.Errorf("search b limit 5 = %v limited %v", got, limited)
		}
		// limit 0 returns no result; limited tells that some matched.
		for term, wantLimited := range map[string]bool{"b": true, "nobodyhere": false} {
			zero := e.do("POST", "/_matrix/client/v3/user_directory/search", alice, map[string]any{"search_term": term, "limit": 0})
			e.expect(zero, 200, "")
			if res, _ := zero.body["results"].([]any); res == nil || len(res) != 0 || zero.body["limited"] != wantLimited {
				t.Errorf("search %s limit 0 = %s, want no results, limited %v", term, zero.raw, wantLimited)
			}
		}

		// A new display name reaches the directory through the join events.
		setName(bob, "@bob:hafen.test", "Robert")
		if got, _ := search("robert", 0); !slices.Equal(got, []string{"@bob:hafen.test"}) {
			t.Errorf("search robert after the rename = %v", got)
		}
		if got, _ := search("builder", 0); got != nil {
			t.Errorf("search builder after the rename = %v, want nothing", got)
		}
		// Carol leaves her public room: alice no longer finds her.
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(public)+"/leave", carol, map[string]any{}), 200, "")
		if got, _ := search("carol", 0); got != nil {
			t.Errorf("search carol after she left = %v, want nothing", got)
		}
		// Dave's room becomes public: alice finds him.
		e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(hidden)+"/state/m.room.join_rules", dave, map[string]any{"join_rule": "public"}), 200, "")
		if got, _ := search("dave", 0); !slices.Equal(got, []string{"@dave:hafen.test"}) {
			t.Errorf("search dave after his room became public = %v", got)
		}

		// The same through a client SDK (mautrix reads the spec's
		// display_name as "displayname", so only the user ID is compared).
		found, err := aliceCli.SearchUserDirectory(context.Background(), "rob", 10)
		if err != nil || len(found.Results) != 1 || found.Results[0].UserID != "@bob:hafen.test" || found.Limited {
			t.Errorf("mautrix SearchUserDirectory rob = %+v, %v", found, err)
		}

		e.expect(e.do("POST", "/_matrix/client/v3/user_directory/search", alice, map[string]any{}), 400, "M_MISSING_PARAM")
		e.expect(e.do("POST", "/_matrix/client/v3/user_directory/search", alice, map[string]any{"search_term": 5}), 400, "M_BAD_JSON")
		e.expect(e.do("POST", "/_matrix/client/v3/user_directory/search", alice, map[string]any{"search_term": "x", "limit": -1}), 400, "M_INVALID_PARAM")
		e.expect(e.do("POST", "/_matrix/client/v3/user_directory/search", "", map[string]any{"search_term": "x"}), 401, "M_MISSING_TOKEN")
	})
}

// A name a user gives themselves in one room (their member event there)
// is not what the directory shows: others find them by their global
// profile, as GET /profile shows it, so a nickname chosen for a private
// room never reaches users outside it.
func TestUserDirectoryIgnoresPerRoomNames(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		caughtUp := withUserDir(t, e)
		_, alice := e.user("alice")
		_, frank := e.user("frank")
		_, dave := e.user("dave")
		e.expect(e.do("PUT", "/_matrix/client/v3/profile/@frank:hafen.test/displayname", frank, map[string]any{"displayname": "Francis Quagga"}), 200, "")
		e.drainProfiles()
		public := e.do("POST", "/_matrix/client/v3/createRoom", frank, map[string]any{"preset": "public_chat"})
		e.expect(public, 200, "")
		private := e.do("POST", "/_matrix/client/v3/createRoom", alice, map[string]any{"preset": "private_chat", "invite": []string{"@frank:hafen.test"}})
		e.expect(private, 200, "")
		privateID := url.PathEscape(private.str("room_id"))
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+privateID+"/join", frank, map[string]any{}), 200, "")
		e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+privateID+"/state/m.room.member/@frank:hafen.test", frank,
			map[string]any{"membership": "join", "displayname": "SecretNick"}), 200, "")

		search := func(tok, term string) map[string]string {
			t.Helper()
			caughtUp()
			res := e.do("POST", "/_matrix/client/v3/user_directory/search", tok, map[string]any{"search_term": term})
			e.expect(res, 200, "")
			out := map[string]string{}
			for _, r := range res.body["results"].([]any) {
				u := r.(map[string]any)
				name, _ := u["display_name"].(string)
				out[u["user_id"].(string)] = name
			}
			return out
		}
		for _, tok := range []string{dave, alice} {
			if got := search(tok, "secretnick"); len(got) != 0 {
				t.Errorf("search for the private room's nickname = %v, want nothing", got)
			}
			if got := search(tok, "quagga"); got["@frank:hafen.test"] != "Francis Quagga" || len(got) != 1 {
				t.Errorf("search for the global name = %v, want frank as Francis Quagga", got)
			}
		}
	})
}
