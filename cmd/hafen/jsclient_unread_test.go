package main

import (
	"testing"

	"maunium.net/go/mautrix"
)

// TestJSClientReadsRoomClearsBadge: messages arrive while a member's
// client is not running, so the server sets the member's unread counts up
// from the store when it starts; the member opens the room (a read
// receipt for its newest event, sent by matrix-js-sdk as Element sends
// it) and the room's badge clears.
func TestJSClientReadsRoomClearsBadge(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := t.Context()
			alice, bob := register(t, base, "alice"), register(t, base, "bob")
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatal(err)
			}
			for _, body := range []string{"one", "two"} {
				if _, err := alice.SendText(ctx, created.RoomID, body); err != nil {
					t.Fatal(err)
				}
			}
			js := startJS(t, "unread.mjs", base, bob, logs)
			room := string(created.RoomID)
			js.await("unread", func(m jsMsg) bool { return m.str("room_id") == room && m["total"] == float64(2) })
			js.await("ready", nil)
			js.send(map[string]any{"read": room})
			js.await("unread", func(m jsMsg) bool { return m.str("room_id") == room && m["total"] == float64(0) })
			js.stop()
		})
	}
}
