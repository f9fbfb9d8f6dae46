package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/core/id"
)

// publicRoomsAnswer is the part of a /publicRooms answer the tests read.
type publicRoomsAnswer struct {
	Chunk []struct {
		RoomID           id.RoomID `json:"room_id"`
		Name             string    `json:"name"`
		NumJoinedMembers int       `json:"num_joined_members"`
		RoomType         string    `json:"room_type"`
	} `json:"chunk"`
	NextBatch              string `json:"next_batch"`
	TotalRoomCountEstimate int    `json:"total_room_count_estimate"`
}

// TestFederationPublicRoomsEndToEnd follows Server-Server API § Public
// Room Directory and the server parameter of the client's /publicRooms:
// A serves its directory over federation (GET with pagination, POST with
// a filter; rooms that do not federate are left out), and B's users read
// A's directory through B, with a mautrix client and with POST.
func TestFederationPublicRoomsEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			peer := newFedPeer(t, b)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			create := func(body map[string]any) id.RoomID {
				t.Helper()
				var cr struct {
					RoomID id.RoomID `json:"room_id"`
				}
				csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom", body, &cr)
				return cr.RoomID
			}
			lobby := create(map[string]any{"visibility": "public", "preset": "public_chat", "name": "Harbour lobby"})
			space := create(map[string]any{"visibility": "public", "preset": "public_chat", "name": "Harbour space", "creation_content": map[string]any{"type": "m.space"}})
			local := create(map[string]any{"visibility": "public", "preset": "public_chat", "name": "Local only", "creation_content": map[string]any{"m.federate": false}})
			// A second member makes the lobby first.
			carol := register(t, a.base, "carol")
			csCall(t, a.base, carol.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(lobby)), struct{}{}, &struct{}{})

			// Over federation.
			var page publicRoomsAnswer
			if st, code := peer.fedGet(t, a.name, "GET", "/_matrix/federation/v1/publicRooms?limit=1", nil, &page); st != 200 {
				t.Fatalf("federation GET publicRooms = %d %s", st, code)
			}
			if len(page.Chunk) != 1 || page.Chunk[0].RoomID != lobby || page.Chunk[0].NumJoinedMembers != 2 || page.NextBatch == "" || page.TotalRoomCountEstimate != 2 {
				t.Fatalf("federation page 1 = %+v, want the lobby and a next_batch among 2 rooms", page)
			}
			var page2 publicRoomsAnswer
			peer.fedGet(t, a.name, "GET", "/_matrix/federation/v1/publicRooms?limit=1&since="+url.QueryEscape(page.NextBatch), nil, &page2)
			if len(page2.Chunk) != 1 || page2.Chunk[0].RoomID != space || page2.NextBatch != "" {
				t.Errorf("federation page 2 = %+v, want the space and no next_batch (the m.federate=false room %s is never listed)", page2, local)
			}
			var filtered publicRoomsAnswer
			peer.fedGet(t, a.name, "POST", "/_matrix/federation/v1/publicRooms", map[string]any{"filter": map[string]any{"room_types": []string{"m.space"}}}, &filtered)
			if len(filtered.Chunk) != 1 || filtered.Chunk[0].RoomID != space || filtered.Chunk[0].RoomType != "m.space" {
				t.Errorf("federation POST filtered on m.space = %+v", filtered)
			}
			if st, code := peer.fedGet(t, a.name, "GET", "/_matrix/federation/v1/publicRooms?since=zzz", nil, nil); st != 400 || code != "M_INVALID_PARAM" {
				t.Errorf("federation GET with a bad token = %d %s, want 400 M_INVALID_PARAM", st, code)
			}

			// A's own clients see the local-only room too.
			var mine publicRoomsAnswer
			csCall(t, a.base, alice.AccessToken, http.MethodGet, "/_matrix/client/v3/publicRooms", nil, &mine)
			if len(mine.Chunk) != 3 {
				t.Errorf("A's local directory = %+v, want 3 rooms", mine)
			}

			// B's user reads A's directory through B.
			remote, err := bob.PublicRooms(context.Background(), &mautrix.ReqPublicRooms{Server: string(a.name)})
			if err != nil {
				t.Fatalf("publicRooms of A through B: %v", err)
			}
			if len(remote.Chunk) != 2 || remote.Chunk[0].RoomID.String() != string(lobby) || remote.Chunk[0].Name != "Harbour lobby" {
				t.Errorf("publicRooms of A through B = %+v", remote.Chunk)
			}
			var searched publicRoomsAnswer
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/publicRooms?server="+url.QueryEscape(string(a.name)),
				map[string]any{"filter": map[string]any{"generic_search_term": "SPACE"}}, &searched)
			if len(searched.Chunk) != 1 || searched.Chunk[0].RoomID != space {
				t.Errorf("POST publicRooms of A through B, searching SPACE = %+v", searched)
			}
			// B's own directory is empty.
			var own publicRoomsAnswer
			csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v3/publicRooms", nil, &own)
			if len(own.Chunk) != 0 {
				t.Errorf("B's directory = %+v, want empty", own)
			}
		})
	}
}

// TestFederationUserDirectoryEndToEnd: a user of B who joins a room of A
// finds its members in B's user directory, though their joins reached B
// as the room's state (send_join), not through B's event stream.
func TestFederationUserDirectoryEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/displayname",
				map[string]any{"displayname": "Alice Faraway"}, &struct{}{})
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
			type found struct {
				UserID      string `json:"user_id"`
				DisplayName string `json:"display_name"`
			}
			searchAs := func(token, term string) []found {
				var res struct {
					Results []found `json:"results"`
				}
				csCall(t, b.base, token, http.MethodPost, "/_matrix/client/v3/user_directory/search", map[string]any{"search_term": term}, &res)
				return res.Results
			}
			search := func(term string) []found { return searchAs(bob.AccessToken, term) }
			waitFoundBy := func(token, user, term, name string) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for {
					res := searchAs(token, term)
					if len(res) == 1 && res[0].UserID == user && res[0].DisplayName == name {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("B's user directory never found %s as %q by %q: %+v", user, name, term, res)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waitFound := func(user, term, name string) { t.Helper(); waitFoundBy(bob.AccessToken, user, term, name) }
			waitFound(alice.UserID.String(), "faraway", "Alice Faraway")
			// erin of B is in no room with alice, but alice is in a public
			// room B knows (users.yaml: "users who are joined to rooms
			// known to the homeserver that have a public join rule").
			erin := register(t, b.base, "erin")
			waitFoundBy(erin.AccessToken, alice.UserID.String(), "faraway", "Alice Faraway")

			// A nickname alice gives herself in a private room she shares
			// with bob reaches B as her member event there, but not B's
			// directory: B keeps the name her public join gave.
			var private struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom",
				map[string]any{"preset": "private_chat", "invite": []string{bob.UserID.String()}}, &private)
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(private.RoomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(private.RoomID))+"/state/m.room.member/"+url.PathEscape(alice.UserID.String()),
				map[string]any{"membership": "join", "displayname": "Hidden Nickname"}, &struct{}{})
			// carol joins the public room after the nickname was set, so
			// once B's directory shows her, B has indexed the nickname's
			// event too.
			carol := register(t, a.base, "carol")
			csCall(t, a.base, carol.AccessToken, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(carol.UserID.String())+"/displayname",
				map[string]any{"displayname": "Carol Sentinel"}, &struct{}{})
			csCall(t, a.base, carol.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID)), struct{}{}, &struct{}{})
			waitFound(carol.UserID.String(), "sentinel", "Carol Sentinel")
			if res := search("hidden"); len(res) != 0 {
				t.Errorf("B's directory finds the private room's nickname: %+v", res)
			}
			waitFound(alice.UserID.String(), "faraway", "Alice Faraway")

			// dave shares only a private room with bob: B asks A for his
			// global profile, and indexes him under it, not under the
			// nickname he gives himself there.
			dave := register(t, a.base, "dave")
			csCall(t, a.base, dave.AccessToken, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(dave.UserID.String())+"/displayname",
				map[string]any{"displayname": "Dave Elsewhere"}, &struct{}{})
			var davesRoom struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, dave.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom",
				map[string]any{"preset": "private_chat", "invite": []string{bob.UserID.String()}}, &davesRoom)
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(davesRoom.RoomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
			waitFound(dave.UserID.String(), "elsewhere", "Dave Elsewhere")
			csCall(t, a.base, dave.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(davesRoom.RoomID))+"/state/m.room.member/"+url.PathEscape(dave.UserID.String()),
				map[string]any{"membership": "join", "displayname": "Dave Undercover"}, &struct{}{})
			// A change of his global name reaches B as a join event in
			// the room, after the nickname's: B asks again.
			csCall(t, a.base, dave.AccessToken, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(dave.UserID.String())+"/displayname",
				map[string]any{"displayname": "Dave Moved"}, &struct{}{})
			waitFound(dave.UserID.String(), "moved", "Dave Moved")
			if res := search("undercover"); len(res) != 0 {
				t.Errorf("B's directory finds dave's nickname in the private room: %+v", res)
			}
		})
	}
}
