package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// TestProfileChangeSyncsAsChangeEndToEnd changes a display name with a
// real client SDK and checks that the member event the change puts into
// the user's room reaches another member's /sync with the previous
// content in unsigned.prev_content: without it clients show a display
// name change as a new join. On every backend.
func TestProfileChangeSyncsAsChangeEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			base, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), args...)
			ctx := context.Background()
			alice := register(t, base, "alice")
			bob := register(t, base, "bob")

			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err != nil {
				t.Fatalf("createRoom: %v\n%s", err, logs)
			}
			if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatalf("join: %v\n%s", err, logs)
			}
			first, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("initial sync: %v\n%s", err, logs)
			}
			if err := alice.SetDisplayName(ctx, "Alice W."); err != nil {
				t.Fatalf("set displayname: %v\n%s", err, logs)
			}

			// The profile change reaches the room in the background: long
			// poll until its member event comes (the deadline guards
			// against a hang; it is not a timing goal).
			since := first.NextBatch
			var change *event.Event
			for deadline := time.Now().Add(time.Minute); change == nil && time.Now().Before(deadline); {
				resp, err := bob.SyncRequest(ctx, 5000, since, "", false, event.PresenceOnline)
				if err != nil {
					t.Fatalf("sync: %v\n%s", err, logs)
				}
				since = resp.NextBatch
				if jr := resp.Rooms.Join[created.RoomID]; jr != nil {
					for _, ev := range jr.Timeline.Events {
						if ev.Type == event.StateMember && ev.GetStateKey() == string(alice.UserID) {
							change = ev
						}
					}
				}
			}
			if change == nil {
				t.Fatalf("alice's display name change never reached bob's sync\n%s", logs)
			}
			if err := change.Content.ParseRaw(event.StateMember); err != nil {
				t.Fatalf("member content: %v", err)
			}
			if got := change.Content.AsMember(); got.Membership != event.MembershipJoin || got.Displayname != "Alice W." {
				t.Errorf("member event content = %+v, want a join with the new display name", got)
			}
			prev := change.Unsigned.PrevContent
			if prev == nil {
				t.Fatalf("member event %s has no unsigned.prev_content", change.ID)
			}
			if err := prev.ParseRaw(event.StateMember); err != nil {
				t.Fatalf("prev_content: %v", err)
			}
			if got := prev.AsMember(); got.Membership != event.MembershipJoin || got.Displayname == "Alice W." {
				t.Errorf("prev_content = %+v, want the join before the change", got)
			}
			if change.Unsigned.ReplacesState == "" || change.Unsigned.ReplacesState == change.ID {
				t.Errorf("replaces_state = %q, want alice's earlier member event", change.Unsigned.ReplacesState)
			}
		})
	}
}
