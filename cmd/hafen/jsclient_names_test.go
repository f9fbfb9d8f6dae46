package main

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix"
)

// TestJSClientNamesUnnamedRoom: in a room without a name whose recent
// messages all come from one member, matrix-js-sdk with lazy-loaded
// members (as Element Web starts it) names the room after its heroes by
// their display names, which it can only do when the heroes' member
// events come with the summary.
func TestJSClientNamesUnnamedRoom(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := t.Context()
			users := map[string]*mautrix.Client{}
			for _, n := range []string{"alice", "bob", "carol", "dave"} {
				users[n] = register(t, base, n)
				if err := users[n].SetDisplayName(ctx, "Name "+n); err != nil {
					t.Fatal(err)
				}
			}
			created, err := users["alice"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"bob", "carol", "dave"} {
				if _, err := users[n].JoinRoomByID(ctx, created.RoomID); err != nil {
					t.Fatal(err)
				}
			}
			// More messages than the first sync's timeline holds, all
			// from dave: no other member's event is in it.
			for i := range 25 {
				if _, err := users["dave"].SendText(ctx, created.RoomID, fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			js := startJS(t, "names.mjs", base, users["carol"], logs)
			m := js.await("room", func(m jsMsg) bool { return m.str("room_id") == string(created.RoomID) })
			if got, want := m.str("name"), "Name alice and 2 others"; got != want {
				t.Errorf("the SDK names the room %q, want %q", got, want)
			}
			js.stop()
		})
	}
}
