//go:build goolm

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// megolmTopology is where the users of a scenario live: all on one
// server, or the room's creator on one and everyone else on another.
type megolmTopology struct {
	home, other *fedServer
}

// megolmTopologies starts the servers of each topology on every backend
// and runs fn in a subtest of each.
func megolmTopologies(t *testing.T, twoServers bool, fn func(t *testing.T, top megolmTopology)) {
	for name, dbArgs := range backends(t) {
		t.Run(name+"/one_server", func(t *testing.T) {
			s := startFedServer(t, dbArgs(t)...)
			fn(t, megolmTopology{home: s, other: s})
		})
		if twoServers {
			t.Run(name+"/two_servers", func(t *testing.T) {
				fn(t, megolmTopology{home: startFedServer(t, dbArgs(t)...), other: startFedServer(t, dbArgs(t)...)})
			})
		}
	}
}

// megolmRoom has creator create an encrypted public room and each of
// joiners join it (over federation when they live elsewhere); it returns
// once the creator's server sees them all joined.
func megolmRoom(t *testing.T, top megolmTopology, creator *mautrix.Client, joiners ...*mautrix.Client) id.RoomID {
	t.Helper()
	var created struct {
		RoomID id.RoomID `json:"room_id"`
	}
	csCall(t, top.home.base, creator.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
		"preset": "public_chat",
		"initial_state": []any{map[string]any{"type": "m.room.encryption", "state_key": "",
			"content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}},
	}, &created)
	for _, j := range joiners {
		csCall(t, j.HomeserverURL.String(), j.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(created.RoomID))+"?via="+url.QueryEscape(string(top.home.name)), struct{}{}, nil)
		waitJoined(t, top.home.base, creator.AccessToken, created.RoomID, j.UserID)
	}
	return created.RoomID
}

// syncUntil syncs c until cond holds for one of its sync responses.
func (c *cryptoClient) syncUntil(t *testing.T, roomID id.RoomID, what string, cond func(resp *mautrix.RespSync, timeline []*event.Event) bool) {
	t.Helper()
	var seen bool
	prev := c.onSync
	var last *mautrix.RespSync
	c.onSync = func(resp *mautrix.RespSync) {
		if prev != nil {
			prev(resp)
		}
		last = resp
	}
	defer func() { c.onSync = prev }()
	deadline := time.Now().Add(30 * time.Second)
	for !seen && time.Now().Before(deadline) {
		timeline := c.sync(t, roomID)
		seen = cond(last, timeline)
	}
	if !seen {
		t.Fatalf("%s never saw %s", c.cli.UserID, what)
	}
}

// TestMegolmSessionRotationAfterLeave: alice, bob and carol share an
// encrypted room. When carol leaves, alice's machine drops its outbound
// Megolm session on the membership change, so her next message uses a
// new session, which she shares over Olm with bob only, and bob decrypts
// the messages of both sessions.
func TestMegolmSessionRotationAfterLeave(t *testing.T) {
	megolmTopologies(t, true, func(t *testing.T, top megolmTopology) {
		ctx := context.Background()
		alice := register(t, top.home.base, "alice")
		bob := register(t, top.other.base, "bob")
		carol := register(t, top.other.base, "carol")
		roomID := megolmRoom(t, top, alice, bob, carol)
		rooms := &encryptedRooms{rooms: []id.RoomID{roomID}}
		ac, bc := newCryptoClient(t, alice, rooms), newCryptoClient(t, bob, rooms)
		cc := newCryptoClient(t, carol, rooms)
		ac.sync(t, roomID)
		bc.sync(t, roomID)
		cc.sync(t, roomID)

		first := ac.send(t, roomID, []id.UserID{alice.UserID, bob.UserID, carol.UserID}, "before carol left")
		bc.receive(t, roomID, "before carol left")
		cc.receive(t, roomID, "before carol left")

		if _, err := carol.LeaveRoom(ctx, roomID); err != nil {
			t.Fatalf("carol leaves: %v", err)
		}
		ac.syncUntil(t, roomID, "carol's leave", func(_ *mautrix.RespSync, timeline []*event.Event) bool {
			left := false
			for _, evt := range timeline {
				if evt.Type != event.StateMember {
					continue
				}
				evt.RoomID = roomID
				if err := evt.Content.ParseRaw(evt.Type); err != nil {
					t.Fatal(err)
				}
				ac.mach.HandleMemberEvent(ctx, evt)
				if evt.GetStateKey() == string(carol.UserID) && evt.Content.AsMember().Membership == event.MembershipLeave {
					left = true
				}
			}
			return left
		})

		second := ac.send(t, roomID, []id.UserID{alice.UserID, bob.UserID}, "after carol left")
		if second == first {
			t.Fatalf("alice's session %s was not rotated after carol left", first)
		}
		bc.receive(t, roomID, "after carol left")
		// Bob still holds the first session's key.
		if s, err := bc.mach.CryptoStore.GetGroupSession(ctx, roomID, first); err != nil || s == nil {
			t.Fatalf("bob lost the first session %s: %v", first, err)
		}
	})
}

// TestMegolmThirdDeviceJoinsLater: bob logs in on a second device after
// alice already shares a Megolm session with his first. Alice's sync
// reports bob's device list as changed, her machine fetches the new
// device (/keys/query), claims one of its one-time keys and sends it the
// room key over Olm (mautrix starts a new Megolm session on a device
// change): the new device decrypts alice's next message, as does the old
// one.
func TestMegolmThirdDeviceJoinsLater(t *testing.T) {
	megolmTopologies(t, true, func(t *testing.T, top megolmTopology) {
		alice := register(t, top.home.base, "alice")
		bob := register(t, top.other.base, "bob")
		roomID := megolmRoom(t, top, alice, bob)
		rooms := &encryptedRooms{rooms: []id.RoomID{roomID}}
		ac, bc := newCryptoClient(t, alice, rooms), newCryptoClient(t, bob, rooms)
		ac.sync(t, roomID)
		bc.sync(t, roomID)
		members := []id.UserID{alice.UserID, bob.UserID}
		ac.send(t, roomID, members, "to bob's first device")
		bc.receive(t, roomID, "to bob's first device")

		bob2 := loginAgain(t, top.other.base, bob)
		bc2 := newCryptoClient(t, bob2, rooms)
		bc2.sync(t, roomID)
		// Alice's sync reports bob's devices as changed, and her machine,
		// reading his keys on each such notice, finds the new device (over
		// federation the notice of the login may come before the keys, and
		// another notice must follow them).
		ac.syncUntil(t, roomID, "bob's new device", func(*mautrix.RespSync, []*event.Event) bool {
			dev, err := ac.mach.CryptoStore.GetDevice(context.Background(), bob.UserID, bob2.DeviceID)
			return err == nil && dev != nil
		})

		ac.send(t, roomID, members, "to both of bob's devices")
		bc2.receive(t, roomID, "to both of bob's devices")
		bc.receive(t, roomID, "to both of bob's devices")
	})
}

// TestMegolmFallbackKeyAfterOneTimeKeysRunOut: bob's device publishes a
// fallback key besides its one-time keys. Once every one-time key is
// claimed, alice's machine, claiming a key to open an Olm session, gets
// the fallback key; bob's sync then no longer lists it as unused, and the
// room key alice sends over that session reaches him.
func TestMegolmFallbackKeyAfterOneTimeKeysRunOut(t *testing.T) {
	megolmTopologies(t, true, func(t *testing.T, top megolmTopology) {
		alice := register(t, top.home.base, "alice")
		bob := register(t, top.other.base, "bob")
		roomID := megolmRoom(t, top, alice, bob)
		rooms := &encryptedRooms{rooms: []id.RoomID{roomID}}
		ac, bc := newCryptoClient(t, alice, rooms), newCryptoClient(t, bob, rooms)
		uploadFallbackKey(t, bc)

		// Bob's machine must not replenish its one-time keys during the
		// test: it sees a full count, the test the real one.
		var otks int
		var unused []id.KeyAlgorithm
		bc.onSync = func(resp *mautrix.RespSync) {
			otks, unused = resp.DeviceOTKCount.SignedCurve25519, resp.FallbackKeys
			resp.DeviceOTKCount.SignedCurve25519 = 100
		}
		bc.sync(t, roomID)
		ac.sync(t, roomID)
		if otks == 0 || !slices.Contains(unused, id.KeyAlgorithmSignedCurve25519) {
			t.Fatalf("bob's sync counts %d one-time keys, unused fallback types %v; want some and signed_curve25519", otks, unused)
		}

		// Claim every one-time key: each is handed out once, none is the
		// fallback key.
		seen := map[string]bool{}
		for i := 0; i < otks; i++ {
			var resp struct {
				OneTimeKeys map[id.UserID]map[id.DeviceID]map[string]struct {
					Key      string `json:"key"`
					Fallback bool   `json:"fallback"`
				} `json:"one_time_keys"`
			}
			csCall(t, top.home.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/claim", map[string]any{
				"one_time_keys": map[string]any{string(bob.UserID): map[string]any{string(bob.DeviceID): "signed_curve25519"}},
			}, &resp)
			keys := resp.OneTimeKeys[bob.UserID][bob.DeviceID]
			if len(keys) != 1 {
				t.Fatalf("claim %d returned %v", i, keys)
			}
			for kid, k := range keys {
				if k.Fallback || seen[kid] {
					t.Fatalf("claim %d of %d returned %s (fallback %v, seen before %v)", i, otks, kid, k.Fallback, seen[kid])
				}
				seen[kid] = true
			}
		}
		bc.sync(t, roomID)
		if otks != 0 || !slices.Contains(unused, id.KeyAlgorithmSignedCurve25519) {
			t.Fatalf("after claiming every one-time key bob's sync counts %d, unused fallback types %v", otks, unused)
		}

		ac.send(t, roomID, []id.UserID{alice.UserID, bob.UserID}, "over the fallback key")
		bc.receive(t, roomID, "over the fallback key")
		if slices.Contains(unused, id.KeyAlgorithmSignedCurve25519) {
			t.Fatalf("bob's sync still lists the claimed fallback key as unused: %v", unused)
		}
		// Bob answers over the same Olm session.
		bc.onSync = nil
		bc.send(t, roomID, []id.UserID{alice.UserID, bob.UserID}, "back to alice")
		ac.receive(t, roomID, "back to alice")
	})
}

// uploadFallbackKey generates a fallback key in c's Olm account and
// publishes it, signed by the device (mautrix's machine publishes only
// one-time keys).
func uploadFallbackKey(t *testing.T, c *cryptoClient) {
	t.Helper()
	acct := c.mach.GetAccount()
	fb, ok := acct.Internal.(interface {
		GenFallbackKey() error
		FallbackKey() map[string]id.Curve25519
	})
	if !ok {
		t.Fatalf("the Olm account %T has no fallback keys", acct.Internal)
	}
	if err := fb.GenFallbackKey(); err != nil {
		t.Fatal(err)
	}
	keys := map[string]json.RawMessage{}
	for kid, pub := range fb.FallbackKey() {
		key := mautrix.OneTimeKey{Key: pub, Fallback: true, IsSigned: true}
		sig, err := acct.SignJSON(&key)
		if err != nil {
			t.Fatal(err)
		}
		key.Signatures = map[id.UserID]map[id.KeyID]string{c.cli.UserID: {id.NewKeyID(id.KeyAlgorithmEd25519, c.cli.DeviceID.String()): sig}}
		raw, err := json.Marshal(&key)
		if err != nil {
			t.Fatal(err)
		}
		keys["signed_curve25519:"+kid] = raw
	}
	csCall(t, c.cli.HomeserverURL.String(), c.cli.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/upload", map[string]any{"fallback_keys": keys}, nil)
}
