package main

import (
	"testing"

	"maunium.net/go/mautrix"
)

// TestJSClientSeesProfileChange changes a display name while another
// member's matrix-js-sdk client syncs, and checks that the SDK sees the
// member event as a profile change (a join whose previous content is a
// join), as Element Web needs to word it "changed their display name"
// rather than "joined the room".
func TestJSClientSeesProfileChange(t *testing.T) {
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
			js := startJS(t, "members.mjs", base, bob, logs)
			js.await("ready", nil)
			if err := alice.SetDisplayName(ctx, "Alice W."); err != nil {
				t.Fatal(err)
			}
			m := js.await("member", func(m jsMsg) bool {
				return m.str("state_key") == string(alice.UserID) && m.str("displayname") == "Alice W."
			})
			if m.str("membership") != "join" || m.str("prev_membership") != "join" || m.str("prev_displayname") == "Alice W." {
				t.Errorf("the SDK saw %v; want a join whose previous content is alice's join before the change", m)
			}
			js.stop()
		})
	}
}
