package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"
)

// syncedAccountData returns the account data events of a sync response by
// type: global ones, and those of room.
func syncedAccountData(resp *mautrix.RespSync, room id.RoomID) (global, inRoom map[string]*event.Event) {
	global, inRoom = map[string]*event.Event{}, map[string]*event.Event{}
	for _, ev := range resp.AccountData.Events {
		global[ev.Type.Type] = ev
	}
	if jr := resp.Rooms.Join[room]; jr != nil {
		for _, ev := range jr.AccountData.Events {
			inRoom[ev.Type.Type] = ev
		}
	}
	return global, inRoom
}

// TestPushRulesAndAccountDataEndToEnd drives push rules, account data and
// tags with a real client SDK and sees them in its syncs, on every
// backend.
func TestPushRulesAndAccountDataEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			base, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), args...)
			ctx := context.Background()
			alice := register(t, base, "alice")
			bob := register(t, base, "bob")

			rules, err := alice.GetPushRules(ctx)
			if err != nil {
				t.Fatalf("GET /pushrules/global/: %v\n%s", err, logs)
			}
			if len(rules.Override) == 0 || rules.Override[0].RuleID != ".m.rule.master" || rules.Override[0].Enabled {
				t.Errorf("override rules start with %+v, want the disabled master rule", rules.Override)
			}
			if len(rules.Underride) == 0 || rules.Underride[len(rules.Underride)-1].RuleID != ".m.rule.encrypted" {
				t.Errorf("underride rules = %+v", rules.Underride)
			}

			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
			if err != nil {
				t.Fatalf("createRoom: %v", err)
			}
			roomID := created.RoomID
			first, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("initial sync: %v", err)
			}
			if g, _ := syncedAccountData(first, roomID); g["m.push_rules"] == nil {
				t.Errorf("initial sync lacks m.push_rules: %v", g)
			}

			if err := alice.SetAccountData(ctx, "im.example.settings", map[string]any{"theme": "dark"}); err != nil {
				t.Fatalf("set account data: %v", err)
			}
			if err := alice.AddTag(ctx, roomID, event.RoomTagFavourite, 0.5); err != nil {
				t.Fatalf("add tag: %v", err)
			}
			err = alice.PutPushRule(ctx, "global", pushrules.ContentRule, "cake", &mautrix.ReqPutPushRule{
				Pattern: "cake*lie", Actions: []*pushrules.PushAction{{Action: pushrules.ActionNotify}}})
			if err != nil {
				t.Fatalf("put push rule: %v", err)
			}
			var got map[string]string
			if err := alice.GetAccountData(ctx, "im.example.settings", &got); err != nil || got["theme"] != "dark" {
				t.Errorf("get account data = %v, %v", got, err)
			}

			second, err := alice.SyncRequest(ctx, 0, first.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("incremental sync: %v", err)
			}
			g, inRoom := syncedAccountData(second, roomID)
			if g["im.example.settings"] == nil || g["im.example.settings"].Content.Raw["theme"] != "dark" {
				t.Errorf("incremental sync global account data = %v", g)
			}
			if g["m.push_rules"] == nil {
				t.Errorf("incremental sync lacks the changed m.push_rules")
			}
			if tags := inRoom["m.tag"]; tags == nil {
				t.Errorf("incremental sync lacks m.tag in the room: %v", inRoom)
			} else if err := tags.Content.ParseRaw(event.AccountDataRoomTags); err != nil {
				t.Errorf("m.tag = %s: %v", tags.Content.VeryRaw, err)
			} else if order, err := tags.Content.AsTag().Tags[event.RoomTagFavourite].Order.Float64(); err != nil || order != 0.5 {
				t.Errorf("m.tag = %s: order %v (%v)", tags.Content.VeryRaw, order, err)
			}
			rule, err := alice.GetPushRule(ctx, "global", pushrules.ContentRule, "cake")
			if err != nil || rule.Pattern != "cake*lie" || !rule.Enabled {
				t.Errorf("content rule = %+v, %v", rule, err)
			}

			// Another user's account data is refused.
			req := bob.BuildClientURL("v3", "user", alice.UserID, "account_data", "im.example.settings")
			_, err = bob.MakeRequest(ctx, "GET", req, nil, nil)
			var he mautrix.HTTPError
			if !errors.As(err, &he) || he.RespError == nil || he.RespError.StatusCode != 403 || he.RespError.ErrCode != "M_FORBIDDEN" {
				t.Errorf("bob reading alice's account data: %v", err)
			}
		})
	}
}

// ephemeralOf returns a joined room's ephemeral events in a sync response
// by type.
func ephemeralOf(resp *mautrix.RespSync, room id.RoomID) map[string]*event.Event {
	out := map[string]*event.Event{}
	if jr := resp.Rooms.Join[room]; jr != nil {
		for _, ev := range jr.Ephemeral.Events {
			out[ev.Type.Type] = ev
		}
	}
	return out
}

// TestReceiptsAndTypingEndToEnd sends a read receipt, a read marker and
// typing notifications with a real client SDK and sees them in the other
// member's sync, with unread counts following the receipt, on every
// backend.
func TestReceiptsAndTypingEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			base, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), args...)
			ctx := context.Background()
			alice, bob := register(t, base, "alice"), register(t, base, "bob")
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err != nil {
				t.Fatalf("createRoom: %v\n%s", err, logs)
			}
			roomID := created.RoomID
			if _, err := bob.JoinRoomByID(ctx, roomID); err != nil {
				t.Fatalf("join: %v", err)
			}
			aliceFirst, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			sent, err := alice.SendText(ctx, roomID, "read me")
			if err != nil {
				t.Fatal(err)
			}
			bobFirst, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if n := bobFirst.Rooms.Join[roomID].UnreadNotifications; n == nil || n.NotificationCount != 1 {
				t.Errorf("bob's unread before reading = %+v", n)
			}

			if err := bob.MarkRead(ctx, roomID, sent.EventID); err != nil {
				t.Fatalf("receipt: %v", err)
			}
			if err := bob.SetReadMarkers(ctx, roomID, map[string]any{"m.fully_read": sent.EventID}); err != nil {
				t.Fatalf("read markers: %v", err)
			}
			if _, err := bob.UserTyping(ctx, roomID, true, 30*time.Second); err != nil {
				t.Fatalf("typing: %v", err)
			}
			aliceNext, err := alice.SyncRequest(ctx, 0, aliceFirst.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			eph := ephemeralOf(aliceNext, roomID)
			if rc := eph["m.receipt"]; rc == nil {
				t.Errorf("alice's sync lacks bob's receipt: %v", eph)
			} else if err := rc.Content.ParseRaw(event.EphemeralEventReceipt); err != nil || (*rc.Content.AsReceipt())[sent.EventID][event.ReceiptTypeRead][bob.UserID].Timestamp.IsZero() {
				t.Errorf("m.receipt = %s (%v)", rc.Content.VeryRaw, err)
			}
			if ty := eph["m.typing"]; ty == nil {
				t.Errorf("alice's sync lacks bob's typing: %v", eph)
			} else if err := ty.Content.ParseRaw(event.EphemeralEventTyping); err != nil || len(ty.Content.AsTyping().UserIDs) != 1 || ty.Content.AsTyping().UserIDs[0] != bob.UserID {
				t.Errorf("m.typing = %s (%v)", ty.Content.VeryRaw, err)
			}

			bobNext, err := bob.SyncRequest(ctx, 0, bobFirst.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			jr := bobNext.Rooms.Join[roomID]
			if jr == nil || jr.UnreadNotifications == nil || jr.UnreadNotifications.NotificationCount != 0 {
				t.Errorf("bob's unread after reading = %+v", jr)
			}
			if g, inRoom := syncedAccountData(bobNext, roomID); inRoom["m.fully_read"] == nil {
				t.Errorf("bob's sync lacks m.fully_read: %v %v", g, inRoom)
			}
		})
	}
}
