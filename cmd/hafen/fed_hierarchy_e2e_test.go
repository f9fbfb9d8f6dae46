package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestFederationHierarchyEndToEnd follows Server-Server API § Spaces and
// the client's /hierarchy for rooms this server is not in: A answers B's
// /hierarchy with the space, its children B may see and the ones it may
// not (inaccessible_children), 404 for a room B may not see; and a user
// of B walks a space of A it joined, whose children B does not know, B
// asking A about them.
func TestFederationHierarchyEndToEnd(t *testing.T) {
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
			space := map[string]any{"type": "m.space"}
			root := create(map[string]any{"preset": "public_chat", "name": "Root", "creation_content": space})
			public := create(map[string]any{"preset": "public_chat", "name": "Public"})
			private := create(map[string]any{"preset": "private_chat", "name": "Private"})
			sub := create(map[string]any{"preset": "public_chat", "name": "Sub", "creation_content": space})
			deep := create(map[string]any{"preset": "public_chat", "name": "Deep"})
			addChild := func(parent, child id.RoomID) {
				t.Helper()
				csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(parent))+"/state/m.space.child/"+url.PathEscape(string(child)),
					map[string]any{"via": []string{string(a.name)}}, &struct{}{})
			}
			addChild(root, public)
			addChild(root, private)
			addChild(root, sub)
			addChild(sub, deep)

			var ans struct {
				Room struct {
					RoomID        id.RoomID `json:"room_id"`
					RoomType      string    `json:"room_type"`
					ChildrenState []struct {
						StateKey       string `json:"state_key"`
						OriginServerTS int64  `json:"origin_server_ts"`
					} `json:"children_state"`
				} `json:"room"`
				Children []struct {
					RoomID id.RoomID `json:"room_id"`
					Name   string    `json:"name"`
				} `json:"children"`
				Inaccessible []id.RoomID `json:"inaccessible_children"`
			}
			if st, code := peer.fedGet(t, a.name, "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(string(root)), nil, &ans); st != 200 {
				t.Fatalf("federation hierarchy = %d %s", st, code)
			}
			if ans.Room.RoomID != root || ans.Room.RoomType != "m.space" || len(ans.Room.ChildrenState) != 3 || ans.Room.ChildrenState[0].OriginServerTS == 0 {
				t.Errorf("federation hierarchy room = %+v", ans.Room)
			}
			var children []id.RoomID
			for _, c := range ans.Children {
				children = append(children, c.RoomID)
			}
			if !slices.Equal(children, []id.RoomID{public, sub}) || !slices.Equal(ans.Inaccessible, []id.RoomID{private}) {
				t.Errorf("federation hierarchy children = %v, inaccessible %v; want [%s %s], [%s]", children, ans.Inaccessible, public, sub, private)
			}
			if st, code := peer.fedGet(t, a.name, "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(string(private)), nil, nil); st != 404 || code != "M_NOT_FOUND" {
				t.Errorf("federation hierarchy of a room B may not see = %d %s, want 404 M_NOT_FOUND", st, code)
			}

			// Bob joins the root through B; B knows none of its children.
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(root))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
			var page struct {
				Rooms []struct {
					RoomID id.RoomID `json:"room_id"`
					Name   string    `json:"name"`
				} `json:"rooms"`
			}
			csCall(t, b.base, bob.AccessToken, http.MethodGet, "/_matrix/client/v1/rooms/"+url.PathEscape(string(root))+"/hierarchy", nil, &page)
			var got []id.RoomID
			for _, r := range page.Rooms {
				got = append(got, r.RoomID)
			}
			if want := []id.RoomID{root, public, sub, deep}; !slices.Equal(got, want) {
				t.Errorf("bob's hierarchy through B = %v, want %v", got, want)
			}
			if len(page.Rooms) == 4 && page.Rooms[3].Name != "Deep" {
				t.Errorf("the remote room's summary = %+v", page.Rooms[3])
			}

			// /room_summary (spec v1.15) of rooms B is not in: asked of A
			// through the via parameter; a room bob may not see is 404.
			summary := func(roomID id.RoomID) (int, map[string]any) {
				t.Helper()
				st, _, body := rawGet(t, b.base, bob.AccessToken, "/_matrix/client/v1/room_summary/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)))
				var out map[string]any
				_ = json.Unmarshal(body, &out)
				return st, out
			}
			if st, sum := summary(public); st != 200 || sum["name"] != "Public" || sum["room_id"] != string(public) || sum["join_rule"] != "public" || sum["membership"] != nil {
				t.Errorf("summary of A's public room through B = %d %v", st, sum)
			}
			if st, sum := summary(private); st != 404 || sum["errcode"] != "M_NOT_FOUND" {
				t.Errorf("summary of A's private room through B = %d %v, want 404 M_NOT_FOUND", st, sum)
			}
			if st, sum := summary(root); st != 200 || sum["membership"] != "join" || sum["room_type"] != "m.space" {
				t.Errorf("summary of the joined root through B = %d %v", st, sum)
			}
		})
	}
}
