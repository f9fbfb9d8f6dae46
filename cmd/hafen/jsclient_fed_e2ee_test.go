//go:build goolm

package main

import (
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestJSClientMegolmAcrossServers: alice, a Go client with mautrix's
// crypto machine on one Hafen server, and bob, a matrix-js-sdk client
// with its Rust crypto (Element Web's stack) on a second, federating
// Hafen server, share an encrypted room and each decrypts the other's
// Megolm messages. Each stack finds the other's device over federation
// (/user/keys/query), claims one of its one-time keys (/user/keys/claim)
// and sends it the room key over Olm as a to-device message
// (m.direct_to_device).
func TestJSClientMegolmAcrossServers(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			ctx := t.Context()
			alice := newMegolmClient(t, a.base, "alice")
			bobCli := register(t, b.base, "bob")
			bob := startJS(t, "e2ee.mjs", b.base, bobCli, b.logs)
			keys := bob.await("ready", nil)

			created, err := alice.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
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
			room := created.RoomID
			bob.send(map[string]any{"cmd": "join", "room_id": room, "via": []string{string(a.name)}})
			if joined := bob.await("joined", nil); joined["encrypted"] != true {
				t.Fatalf("the js client sees the room as not encrypted: %v", joined)
			}
			alice.joinedBy(t, room, bobCli.UserID)

			// JS → Go: bob's client queries alice's device on server A,
			// claims one of its one-time keys, sends it the room key and
			// encrypts.
			fromJS := jsSends(t, bob, room, "hello from js on B")
			alice.readsText(t, fromJS, "hello from js on B")
			raw, err := alice.cli.GetEvent(ctx, room, fromJS)
			if err != nil {
				t.Fatal(err)
			}
			if raw.Type != event.EventEncrypted {
				t.Fatalf("bob's message reached server A as %s, want m.room.encrypted", raw.Type.Type)
			}

			// Go → JS: alice's client shares its own room key with bob's
			// device on server B and encrypts.
			fromGo, err := alice.sendText(ctx, room, "hello from go on A")
			if err != nil {
				t.Fatalf("alice sends: %v\n%s", err, a.logs)
			}
			jsReads(t, bob, fromGo, alice.cli.UserID, "hello from go on A")

			// The device alice encrypted for is the one bob's client
			// reported, as server B published it.
			dev, err := alice.mach.GetOrFetchDevice(ctx, bobCli.UserID, bobCli.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			if string(dev.IdentityKey) != keys.str("curve25519") || string(dev.SigningKey) != keys.str("ed25519") {
				t.Fatalf("alice knows bob's device with keys %s/%s, it reported %v", dev.IdentityKey, dev.SigningKey, keys)
			}

			// The established sessions carry more messages both ways.
			again := jsSends(t, bob, room, "second from js")
			alice.readsText(t, again, "second from js")
			againGo, err := alice.sendText(ctx, room, "second from go")
			if err != nil {
				t.Fatalf("alice sends again: %v", err)
			}
			jsReads(t, bob, againGo, alice.cli.UserID, "second from go")
		})
	}
}
