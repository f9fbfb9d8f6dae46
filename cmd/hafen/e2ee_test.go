package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// sendToDeviceTxn sends one to-device request with an explicit
// transaction ID.
func sendToDeviceTxn(t *testing.T, cli *mautrix.Client, eventType, txnID string, messages map[id.UserID]map[id.DeviceID]any) {
	t.Helper()
	u := cli.BuildClientURL("v3", "sendToDevice", eventType, txnID)
	if _, err := cli.MakeRequest(context.Background(), "PUT", u, map[string]any{"messages": messages}, nil); err != nil {
		t.Fatalf("sendToDevice %s: %v", txnID, err)
	}
}

// toDeviceSeqs returns the "seq" of each to-device event of a sync.
func toDeviceSeqs(t *testing.T, s *mautrix.RespSync) []int {
	t.Helper()
	var out []int
	for _, ev := range s.ToDevice.Events {
		var c struct {
			Seq int `json:"seq"`
		}
		if err := json.Unmarshal(ev.Content.VeryRaw, &c); err != nil {
			t.Fatalf("to-device content %s: %v", ev.Content.VeryRaw, err)
		}
		out = append(out, c.Seq)
	}
	return out
}

// TestToDeviceEndToEnd follows "Send-to-Device messaging": messages reach
// the device's sync in order, at most 100 per response, again and again
// until the next since acknowledges them, then never again; a retried
// transaction is delivered once; "*" reaches every device; messages
// survive a restart; a long-polling sync wakes for a message; the sync
// carries device_one_time_keys_count and
// device_unused_fallback_key_types.
func TestToDeviceEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			base, stop, logs := startServe(t, dataDir, args...)
			ctx := context.Background()
			alice, bob := register(t, base, "alice"), register(t, base, "bob")

			s0, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("initial sync: %v\n%s", err, logs)
			}
			if s0.DeviceOTKCount.SignedCurve25519 != 0 || s0.FallbackKeys == nil || len(s0.ToDevice.Events) != 0 {
				t.Errorf("initial sync: otk count %+v, fallback types %v, to-device %d", s0.DeviceOTKCount, s0.FallbackKeys, len(s0.ToDevice.Events))
			}

			msgs := func(from, to int) []map[id.UserID]map[id.DeviceID]any {
				var out []map[id.UserID]map[id.DeviceID]any
				for i := from; i < to; i++ {
					out = append(out, map[id.UserID]map[id.DeviceID]any{bob.UserID: {bob.DeviceID: map[string]any{"seq": i}}})
				}
				return out
			}
			// 150 messages, one request each, the first one retried.
			for i, m := range msgs(0, 150) {
				sendToDeviceTxn(t, alice, "org.example.test", fmt.Sprintf("t%d", i), m)
			}
			sendToDeviceTxn(t, alice, "org.example.test", "t0", msgs(0, 1)[0])
			// One more to all of bob's devices, and some to nobody.
			sendToDeviceTxn(t, alice, "org.example.test", "all", map[id.UserID]map[id.DeviceID]any{
				bob.UserID:           {"*": map[string]any{"seq": 150}},
				"@nobody:hafen.test": {"X": map[string]any{}},
				bob.UserID + "x":     {"*": map[string]any{}},
				"@remote:other.test": {"Y": map[string]any{}},
			})

			want := func(from, to int) []int {
				var out []int
				for i := from; i < to; i++ {
					out = append(out, i)
				}
				return out
			}
			check := func(what string, s *mautrix.RespSync, w []int) {
				t.Helper()
				got := toDeviceSeqs(t, s)
				if fmt.Sprint(got) != fmt.Sprint(w) {
					t.Fatalf("%s: to-device seqs %v, want %v", what, got, w)
				}
			}
			s1, err := bob.SyncRequest(ctx, 0, s0.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			check("first sync", s1, want(0, 100))
			if s1.ToDevice.Events[0].Sender != alice.UserID || s1.ToDevice.Events[0].Type.Type != "org.example.test" {
				t.Errorf("to-device event = %+v", s1.ToDevice.Events[0])
			}
			// Not acknowledged yet: the same since gets the same messages.
			again, err := bob.SyncRequest(ctx, 0, s0.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			check("repeated since", again, want(0, 100))

			// They survive a restart.
			if err := stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			_, _, logs, st := startServeInfo(t, dataDir, args...)
			base = "http://" + st.client.String()
			for _, cli := range []*mautrix.Client{alice, bob} {
				if cli.HomeserverURL, err = url.Parse(base); err != nil {
					t.Fatal(err)
				}
			}

			s2, err := bob.SyncRequest(ctx, 0, s1.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("sync after restart: %v\n%s", err, logs)
			}
			check("second sync", s2, want(100, 151))
			s3, err := bob.SyncRequest(ctx, 0, s2.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			check("acknowledged", s3, nil)
			// An old since after acknowledgement: the messages are gone.
			old, err := bob.SyncRequest(ctx, 0, s1.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			check("since before the acknowledgement", old, nil)

			// A long poll wakes for a new message.
			done := make(chan *mautrix.RespSync, 1)
			errc := make(chan error, 1)
			go func() {
				s, err := bob.SyncRequest(ctx, 60000, s3.NextBatch, "", false, event.PresenceOnline)
				if err != nil {
					errc <- err
					return
				}
				done <- s
			}()
			for st.syncWaiting() == 0 {
				select {
				case s := <-done:
					t.Fatalf("the long poll returned before a message was sent: %v", toDeviceSeqs(t, s))
				case err := <-errc:
					t.Fatal(err)
				case <-time.After(time.Millisecond):
				}
			}
			sendToDeviceTxn(t, alice, "org.example.test", "late", msgs(151, 152)[0])
			select {
			case s := <-done:
				check("long poll", s, want(151, 152))
			case err := <-errc:
				t.Fatal(err)
			}
		})
	}
}

// TestDeviceListsEndToEnd follows "Tracking the device list for a user":
// when a user sharing a room with alice publishes device keys or removes a
// device, alice's next sync lists the user in device_lists.changed, at
// once even on a long poll, and once only; /keys/changes between the two
// tokens lists it too. A user sharing no room with alice is never listed.
// A user who starts sharing a room with alice is changed, one who stops
// sharing any is left, also when alice is the one who leaves, in sync and
// in /keys/changes.
func TestDeviceListsEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := context.Background()
			alice, bob, carol := register(t, base, "alice"), register(t, base, "bob"), register(t, base, "carol")
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err != nil {
				t.Fatalf("createRoom: %v\n%s", err, logs)
			}
			if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatal(err)
			}
			s0, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			newOlmDevice(t, carol).uploadKeys(t, 1)
			newOlmDevice(t, bob).uploadKeys(t, 1)
			// Pending changes answer a long poll at once.
			s1, err := alice.SyncRequest(ctx, 60000, s0.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s1.DeviceLists.Changed) != fmt.Sprint([]id.UserID{bob.UserID}) {
				t.Fatalf("device_lists.changed = %v, want [%s]", s1.DeviceLists.Changed, bob.UserID)
			}
			var changes struct {
				Changed []id.UserID `json:"changed"`
				Left    []id.UserID `json:"left"`
			}
			u := alice.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "keys", "changes"}, map[string]string{"from": s0.NextBatch, "to": s1.NextBatch})
			if _, err := alice.MakeRequest(ctx, "GET", u, nil, &changes); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(changes.Changed) != fmt.Sprint([]id.UserID{bob.UserID}) || changes.Left == nil {
				t.Errorf("/keys/changes = %+v, want changed [%s] and left []", changes, bob.UserID)
			}
			s2, err := alice.SyncRequest(ctx, 0, s1.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if len(s2.DeviceLists.Changed) != 0 {
				t.Errorf("device_lists.changed repeated: %v", s2.DeviceLists.Changed)
			}

			// Bob logs in a second device, then logs the first one out.
			_, err = bob.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
				Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: bob.UserID.Localpart()},
				Password:   "correct horse bob"})
			if err != nil {
				t.Fatal(err)
			}
			s3, err := alice.SyncRequest(ctx, 0, s2.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bob.MakeRequest(ctx, "POST", bob.BuildClientURL("v3", "logout"), struct{}{}, nil); err != nil {
				t.Fatal(err)
			}
			s4, err := alice.SyncRequest(ctx, 0, s3.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s4.DeviceLists.Changed) != fmt.Sprint([]id.UserID{bob.UserID}) {
				t.Errorf("after bob removed a device: device_lists.changed = %v, want [%s]", s4.DeviceLists.Changed, bob.UserID)
			}

			// Carol starts sharing a room with alice, then stops.
			if _, err := carol.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatal(err)
			}
			s5, err := alice.SyncRequest(ctx, 0, s4.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s5.DeviceLists.Changed) != fmt.Sprint([]id.UserID{carol.UserID}) || len(s5.DeviceLists.Left) != 0 {
				t.Errorf("after carol joined: device_lists = %+v, want carol changed", s5.DeviceLists)
			}
			changesBetween := func(from, to string) (changed, left []id.UserID) {
				t.Helper()
				var ch struct {
					Changed []id.UserID `json:"changed"`
					Left    []id.UserID `json:"left"`
				}
				u := alice.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "keys", "changes"}, map[string]string{"from": from, "to": to})
				if _, err := alice.MakeRequest(ctx, "GET", u, nil, &ch); err != nil {
					t.Fatal(err)
				}
				return ch.Changed, ch.Left
			}
			// Read now: /keys/changes reads the current memberships.
			if got, _ := changesBetween(s4.NextBatch, s5.NextBatch); fmt.Sprint(got) != fmt.Sprint([]id.UserID{carol.UserID}) {
				t.Errorf("/keys/changes after carol joined: changed %v, want [%s]", got, carol.UserID)
			}
			if _, err := carol.LeaveRoom(ctx, created.RoomID); err != nil {
				t.Fatal(err)
			}
			s6, err := alice.SyncRequest(ctx, 0, s5.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s6.DeviceLists.Left) != fmt.Sprint([]id.UserID{carol.UserID}) || len(s6.DeviceLists.Changed) != 0 {
				t.Errorf("after carol left: device_lists = %+v, want carol left", s6.DeviceLists)
			}
			leftBetween := func(from, to string) []id.UserID {
				t.Helper()
				_, left := changesBetween(from, to)
				return left
			}

			// /keys/changes reports the same left users between the tokens.
			if got := leftBetween(s5.NextBatch, s6.NextBatch); fmt.Sprint(got) != fmt.Sprint([]id.UserID{carol.UserID}) {
				t.Errorf("/keys/changes after carol left: left %v, want [%s]", got, carol.UserID)
			}
			if got := leftBetween(s4.NextBatch, s5.NextBatch); got == nil || len(got) != 0 {
				t.Errorf("/keys/changes after carol joined: left %v, want []", got)
			}
			// Alice leaves the only room she shares with bob.
			if _, err := alice.LeaveRoom(ctx, created.RoomID); err != nil {
				t.Fatal(err)
			}
			s7, err := alice.SyncRequest(ctx, 0, s6.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s7.DeviceLists.Left) != fmt.Sprint([]id.UserID{bob.UserID}) {
				t.Errorf("after alice left the only shared room: device_lists = %+v, want bob left", s7.DeviceLists)
			}
			if got := leftBetween(s6.NextBatch, s7.NextBatch); fmt.Sprint(got) != fmt.Sprint([]id.UserID{bob.UserID}) {
				t.Errorf("/keys/changes after alice left: left %v, want [%s]", got, bob.UserID)
			}

			// Alice joins a room of dave's, with whom she shared nothing.
			dave := register(t, base, "dave")
			davesRoom, err := dave.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := alice.JoinRoomByID(ctx, davesRoom.RoomID); err != nil {
				t.Fatal(err)
			}
			s8, err := alice.SyncRequest(ctx, 0, s7.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s8.DeviceLists.Changed) != fmt.Sprint([]id.UserID{dave.UserID}) || len(s8.DeviceLists.Left) != 0 {
				t.Errorf("after alice joined dave's room: device_lists = %+v, want dave changed", s8.DeviceLists)
			}
			if changed, left := changesBetween(s7.NextBatch, s8.NextBatch); fmt.Sprint(changed) != fmt.Sprint([]id.UserID{dave.UserID}) || len(left) != 0 {
				t.Errorf("/keys/changes after alice joined dave's room: changed %v left %v, want dave changed", changed, left)
			}

		})
	}
}
