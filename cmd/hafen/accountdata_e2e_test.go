package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

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
