package main

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestRedactedStateIsServedRedacted redacts a member's join event (with an
// offensive display name) and the room name: /joined_members and the
// stripped state of a later invite serve them redacted, because the
// redaction reaches the room's in-memory head, not only the database.
func TestRedactedStateIsServedRedacted(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := context.Background()
			alice, bob, carol := register(t, base, "alice"), register(t, base, "bob"), register(t, base, "carol")

			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Rude name"})
			if err != nil {
				t.Fatalf("createRoom: %v\n%s", err, logs)
			}
			roomID := created.RoomID
			if err := bob.SetDisplayName(ctx, "Offensive Name"); err != nil {
				t.Fatalf("set displayname: %v", err)
			}
			if _, err := bob.JoinRoomByID(ctx, roomID); err != nil {
				t.Fatalf("join: %v", err)
			}
			members, err := alice.JoinedMembers(ctx, roomID)
			if err != nil || members.Joined[bob.UserID].DisplayName != "Offensive Name" {
				t.Fatalf("joined_members before the redaction = %+v, %v", members, err)
			}

			join, err := alice.FullStateEvent(ctx, roomID, event.StateMember, string(bob.UserID))
			if err != nil {
				t.Fatalf("member event: %v", err)
			}
			nameEv, err := alice.FullStateEvent(ctx, roomID, event.StateRoomName, "")
			if err != nil {
				t.Fatalf("name event: %v", err)
			}
			for _, e := range []id.EventID{join.ID, nameEv.ID} {
				if _, err := alice.RedactEvent(ctx, roomID, e, mautrix.ReqRedact{Reason: "rude"}); err != nil {
					t.Fatalf("redact %s: %v", e, err)
				}
			}

			members, err = alice.JoinedMembers(ctx, roomID)
			if err != nil {
				t.Fatalf("joined_members: %v", err)
			}
			if m, ok := members.Joined[bob.UserID]; !ok || m.DisplayName != "" {
				t.Errorf("joined_members after the redaction = %+v; want bob without a display name", members.Joined)
			}

			if _, err := alice.InviteUser(ctx, roomID, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
				t.Fatalf("invite: %v", err)
			}
			s, err := carol.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("carol's sync: %v", err)
			}
			inv := s.Rooms.Invite[roomID]
			if inv == nil {
				t.Fatalf("carol's sync has no invite: %+v", s.Rooms)
			}
			for _, ev := range inv.State.Events {
				if ev.Type == event.StateRoomName {
					if n, ok := ev.Content.Raw["name"]; ok {
						t.Errorf("invite stripped state serves the redacted room name %q", n)
					}
				}
			}
		})
	}
}
