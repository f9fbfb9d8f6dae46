package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
)

// sendEDUs sends a transaction of EDUs from the peer to dest.
func (p *fedPeer) sendEDUs(t *testing.T, dest id.ServerName, txnID string, edus ...any) {
	t.Helper()
	if err := p.trySendEDUs(dest, txnID, edus...); err != nil {
		t.Fatalf("transaction %s: %v", txnID, err)
	}
}

// trySendEDUs is sendEDUs for another goroutine than the test's.
func (p *fedPeer) trySendEDUs(dest id.ServerName, txnID string, edus ...any) error {
	body, _ := json.Marshal(map[string]any{"origin": p.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{}, "edus": edus})
	_, err := p.client.Do(context.Background(), federation.Request{
		Destination: dest, Method: http.MethodPut, Path: "/_matrix/federation/v1/send/" + url.PathEscape(txnID), Body: body,
	})
	return err
}

// peerInRoom starts a recording peer whose user carol joins a public room
// of alice, a new user of A.
func peerInRoom(t *testing.T, a *fedServer) (*recordingPeer, *mautrix.Client, id.RoomID, id.UserID) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(a.dataDir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	aKeys, err := signing.ParseKeyFile(raw, a.name)
	if err != nil {
		t.Fatal(err)
	}
	p := startRecordingPeer(t, aKeys[0])
	alice := register(t, a.base, "alice")
	roomID := createPublicRoom(t, a.base, alice.AccessToken)
	rq := url.PathEscape(string(roomID))
	carol := id.UserID("@carol:" + string(p.name))
	var m makeResp
	if st, code := p.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape(string(carol))+"?"+allVersions(), nil, &m); st != 200 {
		t.Fatalf("make_join = %d %s", st, code)
	}
	join := p.fromTemplate(t, m)
	if st, code := p.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/send_join/"+rq+"/"+url.PathEscape(string(join.EventID())), join.JSON(), nil); st != 200 {
		t.Fatalf("send_join = %d %s", st, code)
	}
	return p, alice, roomID, carol
}

// TestFederationRoomEDUChecksEndToEnd: typing notifications and receipts
// another server sends are taken only for its own users who are joined to
// the room; the others in the same transaction are dropped. A to-device
// message is delivered once per message_id, and only from the origin's
// own users.
func TestFederationRoomEDUChecksEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) { roomEDUChecks(t, startFedServer(t, dbArgs(t)...)) })
	}
}

func roomEDUChecks(t *testing.T, a *fedServer) {
	p, alice, roomID, carol := peerInRoom(t, a)
	aliceID := id.UserID(alice.UserID)
	dave := id.UserID("@dave:" + string(p.name))
	var sent struct {
		EventID id.EventID `json:"event_id"`
	}
	csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/send/m.room.message/r1",
		map[string]any{"msgtype": "m.text", "body": "read me"}, &sent)
	since := syncOnce(t, a.base, alice.AccessToken, "", 0).NextBatch
	typing := func(user id.UserID, on bool) any {
		return map[string]any{"edu_type": "m.typing", "content": map[string]any{"room_id": roomID, "user_id": user, "typing": on}}
	}
	receipt := func(user id.UserID) any {
		return map[string]any{"edu_type": "m.receipt", "content": map[id.RoomID]any{roomID: map[string]any{"m.read": map[id.UserID]any{
			user: map[string]any{"event_ids": []id.EventID{sent.EventID}, "data": map[string]any{"ts": 1}}}}}}
	}
	// alice is A's own user, dave is not in the room.
	p.sendEDUs(t, a.name, "e1", typing(aliceID, true), typing(dave, true), typing(carol, true), receipt(aliceID), receipt(dave), receipt(carol))
	s := syncOnce(t, a.base, alice.AccessToken, since, 0)
	var typers []id.UserID
	readers := map[id.UserID]bool{}
	for _, e := range s.Rooms.Join[roomID].Ephemeral.Events {
		switch e.Type {
		case "m.typing":
			var c struct {
				UserIDs []id.UserID `json:"user_ids"`
			}
			json.Unmarshal(e.Content, &c)
			typers = c.UserIDs
		case "m.receipt":
			var c map[id.EventID]map[string]map[id.UserID]json.RawMessage
			json.Unmarshal(e.Content, &c)
			for u := range c[sent.EventID]["m.read"] {
				readers[u] = true
			}
		}
	}
	if !slices.Equal(typers, []id.UserID{carol}) {
		t.Errorf("typing = %v, want only carol", typers)
	}
	if len(readers) != 1 || !readers[carol] {
		t.Errorf("receipts from %v, want only carol", readers)
	}
	// A to-device message from carol arrives in two transactions (as
	// after a lost answer): alice's device gets it once. One claiming to
	// be from alice's own server is dropped.
	toDevice := func(sender id.UserID, msgID string, n int) any {
		return map[string]any{"edu_type": "m.direct_to_device", "content": map[string]any{
			"sender": sender, "type": "org.example.ping", "message_id": msgID,
			"messages": map[id.UserID]any{aliceID: map[string]any{"*": map[string]any{"n": n}}}}}
	}
	p.sendEDUs(t, a.name, "m1", toDevice(carol, "msg1", 1), toDevice(aliceID, "msg2", 2))
	p.sendEDUs(t, a.name, "m2", toDevice(carol, "msg1", 1))
	got := syncOnce(t, a.base, alice.AccessToken, s.NextBatch, 0)
	if len(got.ToDevice.Events) != 1 || got.ToDevice.Events[0].Sender != carol {
		t.Errorf("to-device events = %+v, want carol's once", got.ToDevice.Events)
	}

	p.sendEDUs(t, a.name, "e2", typing(carol, false))
	s = syncOnce(t, a.base, alice.AccessToken, s.NextBatch, 0)
	for _, e := range s.Rooms.Join[roomID].Ephemeral.Events {
		if e.Type == "m.typing" && !strings.Contains(string(e.Content), `"user_ids":[]`) {
			t.Errorf("after carol stopped typing: %s", e.Content)
		}
	}
}

// TestFederationDeviceListGapsEndToEnd: a remote server's device list
// updates for its user carol, who shares a room with alice of A. The
// first update A cannot place (nothing cached) makes A fetch carol's list
// (/user/devices); an update whose prev_id is the last stream_id is
// applied as it is; one after a gap makes A fetch the list again; a
// deleted device goes; a signing key update replaces the master key. Each
// change reaches alice's device_lists.changed, and her /keys/query is
// answered from A's cache (the remote server answers no key queries). An
// update for a user of another server than the sender is dropped.
func TestFederationDeviceListGapsEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			p, alice, roomID, carol := peerInRoom(t, a)
			aliceID := id.UserID(alice.UserID)

			devKeys := func(dev string) map[string]any {
				return map[string]any{"user_id": carol, "device_id": dev, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
					"keys": map[string]string{"ed25519:" + dev: "key-of-" + dev}}
			}
			setList := func(streamID int64, devs ...string) {
				var list []any
				for _, d := range devs {
					list = append(list, map[string]any{"device_id": d, "keys": devKeys(d)})
				}
				b, _ := json.Marshal(map[string]any{"user_id": carol, "stream_id": streamID, "devices": list})
				p.mu.Lock()
				p.devices = b
				p.mu.Unlock()
			}
			asked := func() int {
				p.mu.Lock()
				defer p.mu.Unlock()
				return p.devicesAsked
			}
			updateEDU := func(dev string, streamID int64, prev []int64, deleted bool) any {
				c := map[string]any{"user_id": carol, "device_id": dev, "stream_id": streamID, "prev_id": prev}
				if deleted {
					c["deleted"] = true
				} else {
					c["keys"] = devKeys(dev)
				}
				return map[string]any{"edu_type": "m.device_list_update", "content": c}
			}
			update := func(txnID string, dev string, streamID int64, prev []int64, deleted bool) {
				t.Helper()
				p.sendEDUs(t, a.name, txnID, updateEDU(dev, streamID, prev, deleted))
			}
			since := syncOnce(t, a.base, alice.AccessToken, "", 0).NextBatch
			// expect waits for the resync an update may have started in the
			// background, then checks what alice sees.
			expect := func(step string, wantAsked int, want ...id.DeviceID) {
				t.Helper()
				var got []id.DeviceID
				var failures map[string]json.RawMessage
				for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(25 * time.Millisecond) {
					n := asked()
					q := queryKeys(t, a.base, alice.AccessToken, carol)
					got, failures = nil, q.Failures
					for d := range q.DeviceKeys[carol] {
						got = append(got, d)
					}
					slices.Sort(got)
					if n == wantAsked && slices.Equal(got, want) && len(failures) == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: alice sees carol's devices %v (failures %v), want %v; A asked %d times, want %d", step, got, failures, want, n, wantAsked)
					}
				}
				s := syncOnce(t, a.base, alice.AccessToken, since, 0)
				since = s.NextBatch
				if !slices.Contains(s.DeviceLists.Changed, carol) {
					t.Errorf("%s: device_lists.changed = %v, want carol", step, s.DeviceLists.Changed)
				}
				if n := asked(); n != wantAsked {
					t.Errorf("%s: A asked for carol's devices %d times, want %d", step, n, wantAsked)
				}
			}

			setList(5, "C1")
			update("d1", "C1", 5, []int64{4}, false)
			expect("first update", 1, "C1")
			// A long poll of alice is woken by the update: it answers with
			// carol changed long before its timeout (the request's own
			// deadline is 30 s).
			sent := make(chan error, 1)
			go func() {
				time.Sleep(100 * time.Millisecond)
				sent <- p.trySendEDUs(a.name, "d2", updateEDU("C2", 6, []int64{5}, false))
			}()
			woken := syncOnce(t, a.base, alice.AccessToken, since, 600_000)
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(woken.DeviceLists.Changed, carol) {
				t.Errorf("woken long poll: device_lists.changed = %v, want carol", woken.DeviceLists.Changed)
			}
			expect("update that follows", 1, "C1", "C2")
			update("d2-again", "C2", 6, []int64{5}, false)
			setList(9, "C1", "C2", "C3")
			update("d3", "C3", 9, []int64{8}, false)
			expect("update after a gap", 2, "C1", "C2", "C3")
			update("d4", "C1", 10, []int64{9}, true)
			expect("deleted device", 2, "C2", "C3")

			pub := make([]byte, 32)
			rand.Read(pub)
			mk := base64.RawStdEncoding.EncodeToString(pub)
			p.sendEDUs(t, a.name, "s1", map[string]any{"edu_type": "m.signing_key_update", "content": map[string]any{
				"user_id": carol, "master_key": map[string]any{"user_id": carol, "usage": []string{"master"}, "keys": map[string]string{"ed25519:" + mk: mk}},
			}})
			var q struct {
				MasterKeys map[id.UserID]struct {
					Keys map[string]string `json:"keys"`
				} `json:"master_keys"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[id.UserID][]string{carol: {}}}, &q)
			if q.MasterKeys[carol].Keys["ed25519:"+mk] != mk {
				t.Errorf("carol's master key after the signing key update = %+v", q.MasterKeys[carol])
			}

			// carol leaves and joins again: updates of the time between
			// never reached A, so its cache no longer answers (the remote
			// server answers no key queries: a failure), until an update
			// follows again, after a resync.
			rq := url.PathEscape(string(roomID))
			for _, step := range []struct{ make, send string }{{"make_leave", "send_leave"}, {"make_join", "send_join"}} {
				var m makeResp
				path := "/_matrix/federation/v1/" + step.make + "/" + rq + "/" + url.PathEscape(string(carol))
				if step.make == "make_join" {
					path += "?" + allVersions()
				}
				if st, code := p.fedGet(t, a.name, "GET", path, nil, &m); st != 200 {
					t.Fatalf("%s = %d %s", step.make, st, code)
				}
				ev := p.fromTemplate(t, m)
				if st, code := p.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/"+step.send+"/"+rq+"/"+url.PathEscape(string(ev.EventID())), ev.JSON(), nil); st != 200 {
					t.Fatalf("%s = %d %s", step.send, st, code)
				}
			}
			if q := queryKeys(t, a.base, alice.AccessToken, carol); len(q.Failures) != 1 {
				t.Errorf("after carol left and came back: %d devices, failures %v; want the cache unused", len(q.DeviceKeys[carol]), q.Failures)
			}
			setList(12, "C2", "C4")
			update("d5", "C4", 12, []int64{11}, false)
			expect("update after carol came back", 3, "C2", "C4")

			// The remote server speaks for alice, a user of A: dropped.
			p.sendEDUs(t, a.name, "forged", map[string]any{"edu_type": "m.device_list_update", "content": map[string]any{
				"user_id": aliceID, "device_id": "FORGED", "stream_id": 1, "prev_id": []int64{}, "keys": devKeys("FORGED")}})
			qa := queryKeys(t, a.base, alice.AccessToken, aliceID)
			if _, ok := qa.DeviceKeys[aliceID]["FORGED"]; ok {
				t.Errorf("a device list update of another server's user was applied")
			}
		})
	}
}
