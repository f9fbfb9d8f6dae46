//go:build goolm

// The Megolm tests need mautrix's crypto machine, which uses its pure-Go
// Olm (goolm) only with this build tag: go test -tags goolm ./cmd/hafen/

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// megolmClient is a Go client with mautrix's crypto machine: it uploads
// its keys, tracks device lists, decrypts what it syncs and encrypts what
// it sends.
type megolmClient struct {
	cli     *mautrix.Client
	mach    *crypto.OlmMachine
	events  chan *event.Event // decrypted messages and membership changes
	syncErr chan error
}

func newMegolmClient(t *testing.T, base, name string) *megolmClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cli := register(t, base, name)
	states := mautrix.NewMemoryStateStore()
	cli.StateStore = states
	mach := crypto.NewOlmMachine(cli, nil, crypto.NewMemoryStore(nil), states.(crypto.StateStore))
	// Devices are trusted on first use; nobody cross-signs here.
	mach.ShareKeysMinTrust = id.TrustStateUnset
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("%s uploads its keys: %v", name, err)
	}
	c := &megolmClient{cli: cli, mach: mach, events: make(chan *event.Event, 64), syncErr: make(chan error, 1)}
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	// The state store first, so that the crypto machine sees the room's
	// members and encryption.
	syncer.OnEvent(cli.StateStoreSyncHandler)
	syncer.OnSync(mach.ProcessSyncResponse)
	syncer.OnEventType(event.StateMember, mach.HandleMemberEvent)
	syncer.OnEventType(event.StateMember, func(_ context.Context, evt *event.Event) { c.events <- evt })
	syncer.OnEventType(event.EventEncrypted, func(ctx context.Context, evt *event.Event) {
		dec, err := mach.DecryptMegolmEvent(ctx, evt)
		if err != nil {
			// Messages sent before the device joined the room have keys it
			// was never sent; a test that waits for a message fails on it.
			t.Logf("%s cannot decrypt %s: %v", name, evt.ID, err)
			return
		}
		c.events <- dec
	})
	go func() { c.syncErr <- cli.SyncWithContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-c.syncErr
	})
	return c
}

// sendText sends an encrypted text message, sharing a new room key with
// the room's members' devices first if there is none.
func (c *megolmClient) sendText(ctx context.Context, room id.RoomID, text string) (id.EventID, error) {
	msg := &event.MessageEventContent{MsgType: event.MsgText, Body: text}
	enc, err := c.mach.EncryptMegolmEvent(ctx, room, event.EventMessage, msg)
	if errors.Is(err, crypto.ErrNoGroupSession) {
		members, merr := c.cli.StateStore.GetRoomJoinedOrInvitedMembers(ctx, room)
		if merr != nil {
			return "", merr
		}
		if serr := c.mach.ShareGroupSession(ctx, room, members); serr != nil {
			return "", fmt.Errorf("share room key: %w", serr)
		}
		enc, err = c.mach.EncryptMegolmEvent(ctx, room, event.EventMessage, msg)
	}
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	resp, err := c.cli.SendMessageEvent(ctx, room, event.EventEncrypted, enc)
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// await returns the first synced event for which match holds.
func (c *megolmClient) await(t *testing.T, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	timeout := time.After(jsWait)
	for {
		select {
		case evt := <-c.events:
			if match(evt) {
				return evt
			}
		case err := <-c.syncErr:
			t.Fatalf("%s's sync stopped while waiting for %s: %v", c.cli.UserID, what, err)
		case <-timeout:
			t.Fatalf("%s saw no %s within %s", c.cli.UserID, what, jsWait)
		}
	}
}

// joinedBy waits until c has synced user's join to room.
func (c *megolmClient) joinedBy(t *testing.T, room id.RoomID, user id.UserID) {
	t.Helper()
	c.await(t, fmt.Sprintf("%s's join", user), func(evt *event.Event) bool {
		return evt.RoomID == room && evt.GetStateKey() == string(user) && evt.Content.AsMember().Membership == event.MembershipJoin
	})
}

// readsText waits until c has decrypted the message eventID and checks
// its text.
func (c *megolmClient) readsText(t *testing.T, eventID id.EventID, text string) {
	t.Helper()
	evt := c.await(t, "message "+string(eventID), func(evt *event.Event) bool {
		return evt.ID == eventID && evt.Type == event.EventMessage
	})
	if !evt.Mautrix.WasEncrypted || evt.Content.AsMessage().Body != text {
		t.Fatalf("%s read %+v (encrypted %v), want %q", c.cli.UserID, evt.Content.AsMessage(), evt.Mautrix.WasEncrypted, text)
	}
}

// jsSends has the JS client send text to room and returns the event ID.
func jsSends(t *testing.T, js *jsClient, room id.RoomID, text string) id.EventID {
	t.Helper()
	js.send(map[string]any{"cmd": "send", "room_id": room, "body": text})
	return id.EventID(js.await("sent", nil).str("event_id"))
}

// jsReads waits until the JS client has decrypted eventID and checks its
// text and sender.
func jsReads(t *testing.T, js *jsClient, eventID id.EventID, sender id.UserID, text string) {
	t.Helper()
	got := js.await("message", func(m jsMsg) bool { return m.str("event_id") == string(eventID) })
	if got.str("body") != text || got["encrypted"] != true || got.str("sender") != string(sender) {
		t.Fatalf("the js client read %v, want %q from %s, encrypted", got, text, sender)
	}
}

// encryptedRoom has alice create an encrypted room and invite bobCli's
// user, whose JS client bob joins it; it returns once alice's client has
// synced the join.
func encryptedRoom(t *testing.T, alice *megolmClient, bobCli *mautrix.Client, bob *jsClient) id.RoomID {
	t.Helper()
	created, err := alice.cli.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Invite: []id.UserID{bobCli.UserID},
		InitialState: []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bob.send(map[string]any{"cmd": "join", "room_id": created.RoomID})
	if joined := bob.await("joined", nil); joined["encrypted"] != true {
		t.Fatalf("the js client sees the room as not encrypted: %v", joined)
	}
	alice.joinedBy(t, created.RoomID, bobCli.UserID)
	return created.RoomID
}

// loginAgain logs cli's user in on a new device (registered users'
// password is "correct horse " + localpart).
func loginAgain(t *testing.T, base string, cli *mautrix.Client) *mautrix.Client {
	t.Helper()
	again, err := mautrix.NewClient(base, "", "")
	if err != nil {
		t.Fatal(err)
	}
	local := cli.UserID.Localpart()
	if _, err := again.Login(t.Context(), &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: local},
		Password:   "correct horse " + local, StoreCredentials: true}); err != nil {
		t.Fatal(err)
	}
	return again
}

// TestJSClientMegolmWithGoClient has matrix-js-sdk with its Rust crypto
// (Element Web's stack) and Go clients with mautrix's crypto machine
// exchange Megolm-encrypted messages in an encrypted room through Hafen,
// each decrypting the others': device keys, key queries, one-time key
// claims (by each stack), room keys as Olm-encrypted to-device messages,
// and device-list tracking when a third user joins later.
func TestJSClientMegolmWithGoClient(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := t.Context()
			alice := newMegolmClient(t, base, "alice")
			bobCli := register(t, base, "bob")
			bob := startJS(t, "e2ee.mjs", base, bobCli, logs)
			keys := bob.await("ready", nil)

			room := encryptedRoom(t, alice, bobCli, bob)

			// JS → Go: bob's client claims a one-time key of alice's
			// device, sends it the room key over Olm and encrypts.
			fromJS := jsSends(t, bob, room, "hello from js")
			raw, err := alice.cli.GetEvent(ctx, room, fromJS)
			if err != nil {
				t.Fatal(err)
			}
			if raw.Type != event.EventEncrypted {
				t.Fatalf("bob's message is stored as %s, want m.room.encrypted", raw.Type.Type)
			}
			alice.readsText(t, fromJS, "hello from js")

			// Go → JS: alice's client shares its own room key and encrypts.
			fromGo, err := alice.sendText(ctx, room, "hello from go")
			if err != nil {
				t.Fatalf("alice sends: %v\n%s", err, logs)
			}
			jsReads(t, bob, fromGo, alice.cli.UserID, "hello from go")

			// The JS device alice encrypted for is the one it reported.
			dev, err := alice.mach.GetOrFetchDevice(ctx, bobCli.UserID, bobCli.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			if string(dev.IdentityKey) != keys.str("curve25519") || string(dev.SigningKey) != keys.str("ed25519") {
				t.Fatalf("alice knows bob's device with keys %s/%s, it reported %v", dev.IdentityKey, dev.SigningKey, keys)
			}

			// Carol joins later: bob's client learns of her device from the
			// membership and device lists, and shares its room key with her;
			// carol's client claims a one-time key of bob's device.
			carol := newMegolmClient(t, base, "carol")
			if _, err := alice.cli.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: carol.cli.UserID}); err != nil {
				t.Fatal(err)
			}
			if _, err := carol.cli.JoinRoomByID(ctx, room); err != nil {
				t.Fatal(err)
			}
			carol.joinedBy(t, room, carol.cli.UserID)
			alice.joinedBy(t, room, carol.cli.UserID)
			bob.await("member", func(m jsMsg) bool {
				return m.str("user_id") == string(carol.cli.UserID) && m.str("membership") == "join"
			})
			toCarol := jsSends(t, bob, room, "hello carol")
			carol.readsText(t, toCarol, "hello carol")
			alice.readsText(t, toCarol, "hello carol")
			fromCarol, err := carol.sendText(ctx, room, "hello from carol")
			if err != nil {
				t.Fatalf("carol sends: %v", err)
			}
			jsReads(t, bob, fromCarol, carol.cli.UserID, "hello from carol")
			alice.readsText(t, fromCarol, "hello from carol")
		})
	}
}

// TestJSClientMegolmDehydratedDevice follows Element's use of dehydrated
// devices (MSC3814) through Hafen: bob's matrix-js-sdk client sets up
// cross-signing, secret storage and key backup and uploads a dehydrated
// device; while bob has no client running, alice's Go client sends an
// encrypted message, and its room key reaches the dehydrated device; bob
// then logs in on a new device, which rehydrates the dehydrated device
// with the key from secret storage, reads its to-device messages and
// decrypts alice's message, and uploads a new dehydrated device.
func TestJSClientMegolmDehydratedDevice(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := t.Context()
			alice := newMegolmClient(t, base, "alice")
			bobCli := register(t, base, "bob")
			bob := startJS(t, "e2ee.mjs", base, bobCli, logs)
			bob.await("ready", nil)
			bob.send(map[string]any{"cmd": "bootstrap", "password": "correct horse bob"})
			recoveryKey := bob.await("bootstrapped", nil).str("recovery_key")
			bob.send(map[string]any{"cmd": "dehydrate"})
			bob.await("dehydrated", nil)

			var dehydrated struct {
				DeviceID id.DeviceID `json:"device_id"`
			}
			dehydratedURL := bobCli.BuildURL(mautrix.BaseURLPath{"_matrix", "client", "unstable", "org.matrix.msc3814.v1", "dehydrated_device"})
			if _, err := bobCli.MakeRequest(ctx, "GET", dehydratedURL, nil, &dehydrated); err != nil {
				t.Fatalf("GET dehydrated_device: %v", err)
			}
			first := dehydrated.DeviceID
			if first == "" || first == bobCli.DeviceID {
				t.Fatalf("dehydrated device %q", first)
			}

			room := encryptedRoom(t, alice, bobCli, bob)
			bob.stop()

			// Alice encrypts for every device of bob's, the dehydrated one
			// included.
			sent, err := alice.sendText(ctx, room, "while you were away")
			if err != nil {
				t.Fatalf("alice sends: %v\n%s", err, logs)
			}
			dev, err := alice.mach.GetOrFetchDevice(ctx, bobCli.UserID, first)
			if err != nil {
				t.Fatalf("alice does not know bob's dehydrated device: %v", err)
			}
			if dev.Name != "Dehydrated device" {
				t.Errorf("alice sees bob's dehydrated device as %q, not marked dehydrated", dev.Name)
			}

			// Bob logs in on a new device, which rehydrates.
			bob2Cli := loginAgain(t, base, bobCli)
			bob2 := startJS(t, "e2ee.mjs", base, bob2Cli, logs, "HAFEN_RECOVERY_KEY="+recoveryKey)
			bob2.await("ready", nil)
			bob2.send(map[string]any{"cmd": "dehydrate"})
			if got := bob2.await("dehydrated", nil); got["room_keys"].(float64) < 1 {
				t.Fatalf("rehydration found no room key: %v", got)
			}
			jsReads(t, bob2, sent, alice.cli.UserID, "while you were away")

			// The rehydrating client replaced the dehydrated device.
			if _, err := bob2Cli.MakeRequest(ctx, "GET", dehydratedURL, nil, &dehydrated); err != nil {
				t.Fatalf("GET dehydrated_device: %v", err)
			}
			if dehydrated.DeviceID == first || dehydrated.DeviceID == "" {
				t.Errorf("after rehydration the dehydrated device is %q, want a new one", dehydrated.DeviceID)
			}
		})
	}
}

// TestJSClientMegolmKeyBackup: bob's matrix-js-sdk client backs up the
// room key of alice's encrypted message to Hafen's key backup, and bob's
// next device restores the backup with the key from secret storage and
// decrypts the message, as Element does after a new login.
func TestJSClientMegolmKeyBackup(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := t.Context()
			alice := newMegolmClient(t, base, "alice")
			bobCli := register(t, base, "bob")
			bob := startJS(t, "e2ee.mjs", base, bobCli, logs)
			bob.await("ready", nil)
			bob.send(map[string]any{"cmd": "bootstrap", "password": "correct horse bob"})
			recoveryKey := bob.await("bootstrapped", nil).str("recovery_key")
			room := encryptedRoom(t, alice, bobCli, bob)
			sent, err := alice.sendText(ctx, room, "keep this")
			if err != nil {
				t.Fatalf("alice sends: %v\n%s", err, logs)
			}
			jsReads(t, bob, sent, alice.cli.UserID, "keep this")

			// The client uploads the room key in the background: wait until
			// the backup holds a session of the room.
			var version struct {
				Version string `json:"version"`
			}
			if _, err := bobCli.MakeRequest(ctx, "GET", bobCli.BuildClientURL("v3", "room_keys", "version"), nil, &version); err != nil {
				t.Fatalf("GET room_keys/version: %v", err)
			}
			keysURL := bobCli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "room_keys", "keys", room}, map[string]string{"version": version.Version})
			for deadline := time.Now().Add(jsWait); ; time.Sleep(50 * time.Millisecond) {
				var backed struct {
					Sessions map[string]json.RawMessage `json:"sessions"`
				}
				if _, err := bobCli.MakeRequest(ctx, "GET", keysURL, nil, &backed); err != nil && !errors.Is(err, mautrix.MNotFound) {
					t.Fatalf("GET room_keys/keys: %v", err)
				}
				if len(backed.Sessions) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("bob's client backed up no room key within %s\n%s", jsWait, logs)
				}
			}
			bob.stop()

			bob2 := startJS(t, "e2ee.mjs", base, loginAgain(t, base, bobCli), logs, "HAFEN_RECOVERY_KEY="+recoveryKey)
			bob2.await("ready", nil)
			bob2.send(map[string]any{"cmd": "restore"})
			if got := bob2.await("restored", nil); got["imported"].(float64) < 1 {
				t.Fatalf("the restore imported no key: %v", got)
			}
			jsReads(t, bob2, sent, alice.cli.UserID, "keep this")
		})
	}
}
