package main

import (
	"context"
	"path/filepath"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestRelationsSearchUpgradeEndToEnd drives threads, edits, search, room
// upgrades, reports and ignoring with a real client SDK against `hafen
// serve`, on every backend, so that the services are wired as the binary
// wires them: bundled aggregations on /event and in a limited sync, the
// full-text index filled by the event path, the tombstone and the new
// room, and an ignored user's messages left out of sync.
func TestRelationsSearchUpgradeEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			base, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), args...)
			ctx := context.Background()
			alice := register(t, base, "alice")
			bob := register(t, base, "bob")
			fail := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v\n%s", what, err, logs)
				}
			}
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "11"})
			fail("createRoom", err)
			roomID := created.RoomID
			_, err = bob.JoinRoomByID(ctx, roomID)
			fail("join", err)
			root, err := alice.SendText(ctx, roomID, "where shall we meet for lunch")
			fail("send root", err)
			_, err = bob.SendMessageEvent(ctx, roomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "the harbour cafe",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.EventID}})
			fail("thread reply", err)
			edit, err := alice.SendMessageEvent(ctx, roomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "* where shall we meet for dinner",
				"m.new_content": map[string]any{"msgtype": "m.text", "body": "where shall we meet for dinner"},
				"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": root.EventID}})
			fail("edit", err)

			ev, err := alice.GetEvent(ctx, roomID, root.EventID)
			fail("get root", err)
			if th := ev.Unsigned.Relations.GetThread(); th.GetCount() != 1 || ev.Unsigned.Relations.GetLatestEdit() == nil ||
				ev.Unsigned.Relations.GetLatestEdit().ID != edit.EventID {
				t.Errorf("root's aggregations = %+v", ev.Unsigned.Relations)
			}
			resp, err := alice.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: `{"room":{"timeline":{"limit":3}}}`})
			fail("sync", err)
			if jr := resp.Rooms.Join[roomID]; jr == nil || !jr.Timeline.Limited {
				t.Errorf("sync timeline not limited: %+v", jr)
			} else {
				for _, e := range jr.Timeline.Events {
					if e.ID == root.EventID && e.Unsigned.Relations.GetThread() == nil {
						t.Errorf("root in a limited sync lacks m.thread")
					}
				}
			}

			found, err := bob.Search(ctx, &mautrix.ReqSearch{SearchTerm: "harbour"})
			fail("search", err)
			if len(found.Results) != 1 || found.Results[0].Event.Sender != bob.UserID {
				t.Errorf("search harbour = %+v", found.Results)
			}
			fail("report", bob.ReportEvent(ctx, roomID, root.EventID, "lunch is off-topic"))

			fail("ignore", alice.SetAccountData(ctx, "m.ignored_user_list", map[string]any{"ignored_users": map[string]any{string(bob.UserID): map[string]any{}}}))
			hidden, err := bob.SendText(ctx, roomID, "can you hear me")
			fail("send while ignored", err)
			after, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			fail("sync", err)
			for _, e := range after.Rooms.Join[roomID].Timeline.Events {
				if e.ID == hidden.EventID {
					t.Errorf("sync shows a message of an ignored user")
				}
			}

			var up struct {
				ReplacementRoom id.RoomID `json:"replacement_room"`
			}
			_, err = alice.MakeRequest(ctx, "POST", alice.BuildClientURL("v3", "rooms", roomID, "upgrade"), map[string]any{"new_version": "12"}, &up)
			fail("upgrade", err)
			var tomb struct {
				ReplacementRoom id.RoomID `json:"replacement_room"`
			}
			fail("tombstone", alice.StateEvent(ctx, roomID, event.StateTombstone, "", &tomb))
			if up.ReplacementRoom == "" || tomb.ReplacementRoom != up.ReplacementRoom {
				t.Errorf("upgrade: replacement %q, tombstone %q", up.ReplacementRoom, tomb.ReplacementRoom)
			}
		})
	}
}
