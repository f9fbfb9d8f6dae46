package clientapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/spaces"
)

// fakeHierarchyRemote answers federation /hierarchy requests with fixed
// bodies, by path.
type fakeHierarchyRemote map[string]string

func (f fakeHierarchyRemote) Do(_ context.Context, req federation.Request) ([]byte, error) {
	body, ok := f[req.Path]
	if !ok {
		return nil, fmt.Errorf("unexpected request to %s: %s", req.Destination, req.Path)
	}
	return []byte(body), nil
}

// TestSpaceHierarchyChildrenState follows the m.space.child schema ("when
// [via is] not present or invalid, the child room is not considered to be
// part of the space") and Client-Server API § Spaces (a child is removed
// by omitting via; m.space.child has no effect in rooms which are not
// spaces; children_state of a room that is not a space "should be
// empty"): a room's children_state lists exactly the children the walk
// follows, in the spec's order, for local rooms, rooms other servers
// describe, suggested_only and the federation answer.
func TestSpaceHierarchyChildrenState(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		create := func(name string, space bool) string {
			t.Helper()
			body := map[string]any{"preset": "public_chat", "name": name}
			if space {
				body["creation_content"] = map[string]any{"type": "m.space"}
			}
			res := e.do("POST", "/_matrix/client/v3/createRoom", tok, body)
			e.expect(res, 200, "")
			return res.str("room_id")
		}
		setChild := func(parent, stateKey, content string) {
			t.Helper()
			e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(parent)+"/state/m.space.child/"+url.PathEscape(stateKey), tok, content), 200, "")
		}
		const remote, remoteDeep = "!remote:other.test", "!deep:other.test"
		root := create("Root", true)
		sub := create("Sub", true)
		suggested := create("Suggested", false)
		unordered := create("Unordered", false)
		plain := create("Plain", false)
		deep := create("Deep", false)
		underPlain := create("Under plain", false)

		// The children, in the spec's order: sub ("a"), suggested ("b"),
		// plain ("c"), remote ("d"), unordered (an order of the wrong
		// type is no order). A via entry that is not a server name is
		// skipped; a suggested of the wrong type is false.
		setChild(root, sub, `{"via":["not a server","hafen.test"],"order":"a","suggested":"yes"}`)
		setChild(root, suggested, `{"via":["hafen.test"],"order":"b","suggested":true}`)
		setChild(root, plain, `{"via":["hafen.test"],"order":"c"}`)
		setChild(root, remote, `{"via":["other.test"],"order":"d"}`)
		setChild(root, unordered, `{"via":["hafen.test"],"order":5}`)
		// m.space.child events that make no child, each naming a room the
		// user could see.
		var notChildren []string
		for i, content := range []string{
			`{}`,                          // removed: via omitted
			`{"via":[]}`,                  // via empty
			`{"via":"hafen.test"}`,        // via not an array
			`{"via":null}`,                // via null
			`{"via":[5]}`,                 // via entry not a string
			`{"via":["hafen.test",null]}`, // via entry not a string
			`{"via":[""]}`,                // no server to join through
		} {
			r := create(fmt.Sprintf("Not a child %d", i), false)
			setChild(root, r, content)
			notChildren = append(notChildren, r)
		}
		setChild(root, "not-a-room-id", `{"via":["hafen.test"]}`)
		setChild(root, "#alias:hafen.test", `{"via":["hafen.test"]}`)

		setChild(sub, deep, `{"via":["hafen.test"],"suggested":true}`)
		setChild(sub, notChildren[0], `{}`)
		// A room that is not a space has no children.
		setChild(plain, underPlain, `{"via":["hafen.test"]}`)

		childState := func(stateKey string, content string) map[string]any {
			return map[string]any{"type": "m.space.child", "state_key": stateKey, "sender": "@bob:other.test", "origin_server_ts": 1, "content": json.RawMessage(content)}
		}
		remoteAnswer, err := json.Marshal(map[string]any{
			"room": map[string]any{
				"room_id": remote, "room_type": "m.space", "join_rule": "public", "num_joined_members": 1, "world_readable": false, "guest_can_join": false,
				"children_state": []any{
					childState("!gone:other.test", `{}`),
					childState(remoteDeep, `{"via":["other.test"]}`),
					childState("!empty:other.test", `{"via":[]}`),
					childState("!string:other.test", `{"via":"other.test"}`),
					childState("no-room", `{"via":["other.test"]}`),
				},
			},
			"children": []any{
				map[string]any{"room_id": remoteDeep, "name": "Remote deep", "join_rule": "public", "num_joined_members": 1, "world_readable": false, "guest_can_join": false, "children_state": []any{}},
				map[string]any{"room_id": "!gone:other.test", "name": "Gone", "join_rule": "public", "num_joined_members": 1, "world_readable": false, "guest_can_join": false, "children_state": []any{}},
			},
			"inaccessible_children": []any{},
		})
		if err != nil {
			t.Fatal(err)
		}
		remotePath := "/_matrix/federation/v1/hierarchy/" + url.PathEscape(remote)
		fake := fakeHierarchyRemote{
			remotePath:                          string(remoteAnswer),
			remotePath + "?suggested_only=true": string(remoteAnswer),
		}
		svc := &spaces.Service{ServerName: "hafen.test", DB: e.db, Remote: fake}
		e.srv.Spaces = svc

		// hier returns the rooms of alice's hierarchy and the state keys
		// of each room's children_state.
		hier := func(query string) ([]string, map[string][]string) {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy"+query, tok, nil)
			e.expect(res, 200, "")
			var page struct {
				Rooms []struct {
					RoomID        string `json:"room_id"`
					ChildrenState []struct {
						Type     string `json:"type"`
						StateKey string `json:"state_key"`
					} `json:"children_state"`
				} `json:"rooms"`
			}
			if err := json.Unmarshal([]byte(res.raw), &page); err != nil {
				t.Fatalf("hierarchy answer %s: %v", res.raw, err)
			}
			var rooms []string
			children := map[string][]string{}
			for _, r := range page.Rooms {
				rooms = append(rooms, r.RoomID)
				keys := []string{}
				for _, c := range r.ChildrenState {
					keys = append(keys, c.StateKey)
				}
				children[r.RoomID] = keys
			}
			return rooms, children
		}

		rooms, children := hier("")
		if want := []string{root, sub, deep, suggested, plain, remote, remoteDeep, unordered}; !slices.Equal(rooms, want) {
			t.Errorf("rooms = %v, want %v", rooms, want)
		}
		for room, want := range map[string][]string{
			root:       {sub, suggested, plain, remote, unordered},
			sub:        {deep},
			plain:      {},
			remote:     {remoteDeep},
			remoteDeep: {},
			deep:       {},
		} {
			if got := children[room]; !slices.Equal(got, want) {
				t.Errorf("children_state of %s = %v, want %v", room, got, want)
			}
		}

		// suggested_only: the walk and children_state keep the suggested
		// children alone.
		rooms, children = hier("?suggested_only=true")
		if want := []string{root, suggested}; !slices.Equal(rooms, want) {
			t.Errorf("suggested_only: rooms = %v, want %v", rooms, want)
		}
		if got, want := children[root], []string{suggested}; !slices.Equal(got, want) {
			t.Errorf("suggested_only: children_state of the root = %v, want %v", got, want)
		}

		// Federation /hierarchy: the room's children_state and the
		// children's, by the same rule.
		ans, err := svc.FederationHierarchy(context.Background(), "other.test", id.RoomID(root), false)
		if err != nil {
			t.Fatalf("FederationHierarchy: %v", err)
		}
		stateKeys := func(cs []spaces.ChildState) []string {
			keys := []string{}
			for _, c := range cs {
				keys = append(keys, c.StateKey)
			}
			return keys
		}
		if got, want := stateKeys(ans.Room.ChildrenState), []string{sub, suggested, plain, remote, unordered}; !slices.Equal(got, want) {
			t.Errorf("federation: children_state of the root = %v, want %v", got, want)
		}
		var fedChildren []string
		for _, c := range ans.Children {
			fedChildren = append(fedChildren, string(c.RoomID))
			want := []string{}
			if string(c.RoomID) == sub {
				want = []string{deep}
			}
			if got := stateKeys(c.ChildrenState); !slices.Equal(got, want) {
				t.Errorf("federation: children_state of child %s = %v, want %v", c.RoomID, got, want)
			}
		}
		// The remote room is not known here: left out for the asking
		// server to ask elsewhere.
		if want := []string{sub, suggested, plain, unordered}; !slices.Equal(fedChildren, want) {
			t.Errorf("federation: children = %v, want %v", fedChildren, want)
		}
	})
}
