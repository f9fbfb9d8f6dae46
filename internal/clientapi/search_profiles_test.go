package clientapi

import (
	"context"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	mid "maunium.net/go/mautrix/id"
)

// TestSearchProfileInfoHistoric checks, on every backend, that a result's
// profile_info is "the historic profile information for the users that
// sent the events" (search.yaml): each sender's displayname and
// avatar_url at their event, not as they are now, including a sender whose
// own join is among the events around the result.
func TestSearchProfileInfoHistoric(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		must[struct{}](t, "alice's name")(struct{}{}, alice.SetDisplayName(ctx, "Alice Then"))
		must[struct{}](t, "alice's avatar")(struct{}{}, alice.SetAvatarURL(ctx, mid.MustParseContentURI("mxc://hafen.test/then")))
		must[struct{}](t, "bob's name")(struct{}{}, bob.SetDisplayName(ctx, "Bob Then"))
		must[struct{}](t, "carol's name")(struct{}{}, carol.SetDisplayName(ctx, "Carol Then"))
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, roomID))
		must[*mautrix.RespSendEvent](t, "alice")(alice.SendText(ctx, roomID, "papaya for everyone"))
		must[*mautrix.RespSendEvent](t, "bob")(bob.SendText(ctx, roomID, "thanks"))
		// Everyone changes their profile afterwards.
		must[struct{}](t, "alice renames")(struct{}{}, alice.SetDisplayName(ctx, "Alice Now"))
		must[struct{}](t, "alice's new avatar")(struct{}{}, alice.SetAvatarURL(ctx, mid.MustParseContentURI("mxc://hafen.test/now")))
		must[struct{}](t, "bob renames")(struct{}{}, bob.SetDisplayName(ctx, "Bob Now"))
		must[struct{}](t, "carol renames")(struct{}{}, carol.SetDisplayName(ctx, "Carol Now"))
		e.drainProfiles()

		for _, order := range []string{"recent", "rank"} {
			raw := e.do("POST", "/_matrix/client/v3/search", aliceTok, map[string]any{"search_categories": map[string]any{"room_events": map[string]any{
				"search_term": "papaya", "order_by": order,
				"event_context": map[string]any{"before_limit": 1, "after_limit": 1, "include_profile": true}}}})
			e.expect(raw, http.StatusOK, "")
			re, _ := raw.body["search_categories"].(map[string]any)["room_events"].(map[string]any)
			results, _ := re["results"].([]any)
			if len(results) != 1 {
				t.Fatalf("%s: results = %v", order, re["results"])
			}
			res0, _ := results[0].(map[string]any)
			profiles, _ := res0["context"].(map[string]any)["profile_info"].(map[string]any)
			for _, want := range []struct {
				user      mid.UserID
				name, url string
			}{
				{alice.UserID, "Alice Then", "mxc://hafen.test/then"},
				{bob.UserID, "Bob Then", ""},
				{carol.UserID, "Carol Then", ""}, // her join, just before
			} {
				p, _ := profiles[string(want.user)].(map[string]any)
				if name, _ := p["displayname"].(string); name != want.name {
					t.Errorf("%s: profile_info[%s].displayname = %q, want %q", order, want.user, name, want.name)
				}
				if url, _ := p["avatar_url"].(string); url != want.url {
					t.Errorf("%s: profile_info[%s].avatar_url = %q, want %q", order, want.user, url, want.url)
				}
			}
			if len(profiles) != 3 {
				t.Errorf("%s: profile_info = %v, want alice, bob and carol", order, profiles)
			}
		}
	})
}
