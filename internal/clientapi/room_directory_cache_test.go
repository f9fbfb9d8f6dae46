package clientapi

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
)

// The published rooms' summaries are kept between /publicRooms calls;
// every change of a listed room shows on the next call: its name, topic
// and joined members, a redacted name, and the room leaving the
// directory.
func TestPublicRoomsShowChangesAtOnce(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, tok := e.user("alice")
		bob, _ := e.user("bob")
		roomID := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Visibility: "public", Preset: "public_chat", Name: "First name", Topic: "First topic",
		})).RoomID
		list := func() map[string]any {
			t.Helper()
			res := e.do("GET", "/_matrix/client/v3/publicRooms", "", nil)
			e.expect(res, 200, "")
			chunk, _ := res.body["chunk"].([]any)
			for _, c := range chunk {
				if r, _ := c.(map[string]any); r["room_id"] == string(roomID) {
					return r
				}
			}
			return nil
		}
		expectRoom := func(what, name, topic string, members float64) {
			t.Helper()
			r := list()
			if r == nil {
				t.Fatalf("%s: room not listed", what)
			}
			gotName, _ := r["name"].(string)
			gotTopic, _ := r["topic"].(string)
			if gotName != name || gotTopic != topic || r["num_joined_members"] != members {
				t.Errorf("%s: listed as name %q, topic %q, %v members; want %q, %q, %v", what, gotName, gotTopic, r["num_joined_members"], name, topic, members)
			}
		}
		expectRoom("created", "First name", "First topic", 1)
		expectRoom("asked again", "First name", "First topic", 1)

		nameEv := must[*mautrix.RespSendEvent](t, "rename")(alice.SendStateEvent(ctx, roomID, mevent.StateRoomName, "", map[string]any{"name": "Second name"}))
		expectRoom("renamed", "Second name", "First topic", 1)
		must[*mautrix.RespSendEvent](t, "new topic")(alice.SendStateEvent(ctx, roomID, mevent.StateTopic, "", map[string]any{"topic": "Second topic"}))
		expectRoom("new topic", "Second name", "Second topic", 1)
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		expectRoom("bob joined", "Second name", "Second topic", 2)
		must[*mautrix.RespSendEvent](t, "redact name")(alice.RedactEvent(ctx, roomID, nameEv.EventID))
		expectRoom("name redacted", "", "Second topic", 2)

		path := "/_matrix/client/v3/directory/list/room/" + string(roomID)
		e.expect(e.do("PUT", path, tok, map[string]any{"visibility": "private"}), 200, "")
		if r := list(); r != nil {
			t.Errorf("room still listed after it left the directory: %v", r)
		}
		e.expect(e.do("PUT", path, tok, map[string]any{"visibility": "public"}), 200, "")
		expectRoom("listed again", "", "Second topic", 2)
	})
}
