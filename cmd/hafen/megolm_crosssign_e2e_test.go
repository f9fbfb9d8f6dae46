//go:build goolm

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// passwordUIA answers a user-interactive authentication challenge with
// the registered user's password ("correct horse " + localpart), counting
// the challenges in *asked.
func passwordUIA(cli *mautrix.Client, asked *int) mautrix.UIACallback {
	return func(resp *mautrix.RespUserInteractive) any {
		*asked++
		return map[string]any{
			"type":       "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": cli.UserID.Localpart()},
			"password":   "correct horse " + cli.UserID.Localpart(),
			"session":    resp.Session,
		}
	}
}

// TestMegolmCrossSigningVerifiesSecondDevice: alice's first device
// bootstraps cross-signing with mautrix's crypto machine (a replacement
// of the keys needs user-interactive authentication), logs in a second
// device and signs it with her self-signing key. Bob, who shares a room
// with her, is told in sync that her devices changed, sees the signature,
// her master and self-signing keys but not her user-signing key in
// /keys/query, and his machine resolves the second device as cross-signed
// by alice.
func TestMegolmCrossSigningVerifiesSecondDevice(t *testing.T) {
	megolmTopologies(t, true, func(t *testing.T, top megolmTopology) {
		ctx := context.Background()
		alice := register(t, top.home.base, "alice")
		bob := register(t, top.other.base, "bob")
		roomID := megolmRoom(t, top, alice, bob)
		rooms := &encryptedRooms{rooms: []id.RoomID{roomID}}
		ac, bc := newCryptoClient(t, alice, rooms), newCryptoClient(t, bob, rooms)

		asked := 0
		for range 2 {
			keys, err := ac.mach.GenerateCrossSigningKeys()
			if err != nil {
				t.Fatal(err)
			}
			if err := ac.mach.PublishCrossSigningKeys(ctx, keys, passwordUIA(alice, &asked)); err != nil {
				t.Fatalf("publish cross-signing keys: %v", err)
			}
		}
		if asked == 0 {
			t.Fatal("replacing the cross-signing keys did not ask for user-interactive authentication")
		}
		if err := ac.mach.SignOwnMasterKey(ctx); err != nil {
			t.Fatalf("sign the master key with the device: %v", err)
		}
		xs := ac.mach.CrossSigningKeys.PublicKeys()
		bc.sync(t, roomID)
		// Bob's machine tracks alice's devices from now on, as a client
		// does for the members of its encrypted rooms.
		if _, err := bc.mach.FetchKeys(ctx, []id.UserID{alice.UserID}, true); err != nil {
			t.Fatalf("bob fetches alice's keys: %v", err)
		}

		alice2 := loginAgain(t, top.home.base, alice)
		newCryptoClient(t, alice2, rooms)
		// Bob's sync reports alice's devices as changed, and his machine,
		// reading her keys on each such notice, finds the new device.
		var dev *id.Device
		bc.syncUntil(t, roomID, "alice's second device", func(*mautrix.RespSync, []*event.Event) bool {
			dev, _ = bc.mach.CryptoStore.GetDevice(ctx, alice.UserID, alice2.DeviceID)
			return dev != nil
		})
		if trust, _ := bc.mach.ResolveTrustContext(ctx, dev); trust >= id.TrustStateCrossSignedUntrusted {
			t.Fatalf("alice's second device is %s before she signed it", trust)
		}

		own, err := ac.mach.GetOrFetchDevice(ctx, alice.UserID, alice2.DeviceID)
		if err != nil {
			t.Fatalf("alice fetches her second device: %v", err)
		}
		if err := ac.mach.SignOwnDevice(ctx, own); err != nil {
			t.Fatalf("sign the second device: %v", err)
		}
		// Bob's sync reports alice's devices as changed again, and his
		// machine, reading her keys on the notice, finds the device
		// cross-signed. Bob has not verified alice: her master key is
		// trusted on first use at most.
		var trust id.TrustState
		bc.syncUntil(t, roomID, "the signature on alice's second device", func(*mautrix.RespSync, []*event.Event) bool {
			trust, _ = bc.mach.ResolveTrustContext(ctx, dev)
			return trust >= id.TrustStateCrossSignedUntrusted
		})
		if trust >= id.TrustStateCrossSignedVerified {
			t.Fatalf("bob resolves alice's second device as %s though he verified nobody", trust)
		}

		sigKey := id.NewKeyID(id.KeyAlgorithmEd25519, xs.SelfSigningKey.String())
		var q struct {
			DeviceKeys      map[id.UserID]map[id.DeviceID]json.RawMessage `json:"device_keys"`
			MasterKeys      map[id.UserID]json.RawMessage                 `json:"master_keys"`
			SelfSigningKeys map[id.UserID]json.RawMessage                 `json:"self_signing_keys"`
			UserSigningKeys map[id.UserID]json.RawMessage                 `json:"user_signing_keys"`
		}
		csCall(t, top.other.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/query",
			map[string]any{"device_keys": map[string]any{string(alice.UserID): []string{}}}, &q)
		if q.MasterKeys[alice.UserID] == nil || q.SelfSigningKeys[alice.UserID] == nil {
			t.Fatalf("bob's /keys/query lacks alice's master or self-signing key: %+v", q)
		}
		if q.UserSigningKeys[alice.UserID] != nil {
			t.Fatalf("bob's /keys/query shows alice's user-signing key")
		}
		var signed struct {
			Signatures map[id.UserID]map[id.KeyID]string `json:"signatures"`
		}
		if err := json.Unmarshal(q.DeviceKeys[alice.UserID][alice2.DeviceID], &signed); err != nil {
			t.Fatal(err)
		}
		if signed.Signatures[alice.UserID][sigKey] == "" {
			t.Fatalf("alice's second device carries no self-signing signature: %s", q.DeviceKeys[alice.UserID][alice2.DeviceID])
		}

	})
}

// TestMegolmKeyBackupRestoreOnNewDevice: bob receives a Megolm session
// from alice, creates a key backup version and uploads the session to it,
// encrypted to the backup key. A device bob logs in later, which never
// got the session over Olm, restores the backup with mautrix's crypto
// machine (the backup trusted by its public key) and decrypts alice's
// earlier message from its initial sync.
func TestMegolmKeyBackupRestoreOnNewDevice(t *testing.T) {
	megolmTopologies(t, true, func(t *testing.T, top megolmTopology) {
		ctx := context.Background()
		alice := register(t, top.home.base, "alice")
		bob := register(t, top.other.base, "bob")
		roomID := megolmRoom(t, top, alice, bob)
		rooms := &encryptedRooms{rooms: []id.RoomID{roomID}}
		ac, bc := newCryptoClient(t, alice, rooms), newCryptoClient(t, bob, rooms)
		ac.sync(t, roomID)
		bc.sync(t, roomID)
		sessionID := ac.send(t, roomID, []id.UserID{alice.UserID, bob.UserID}, "kept in the backup")
		bc.receive(t, roomID, "kept in the backup")

		key, err := backup.NewMegolmBackupKey()
		if err != nil {
			t.Fatal(err)
		}
		created, err := bob.CreateKeyBackupVersion(ctx, &mautrix.ReqRoomKeysVersionCreate[backup.MegolmAuthData]{
			Algorithm: id.KeyBackupAlgorithmMegolmBackupV1,
			AuthData:  backup.MegolmAuthData{PublicKey: id.Ed25519(base64.RawStdEncoding.EncodeToString(key.PublicKey().Bytes()))},
		})
		if err != nil {
			t.Fatalf("create backup version: %v", err)
		}
		igs, err := bc.mach.CryptoStore.GetGroupSession(ctx, roomID, sessionID)
		if err != nil || igs == nil {
			t.Fatalf("bob's session %s: %v", sessionID, err)
		}
		uploadToBackup(t, bob, created.Version, key, igs)

		bob2 := loginAgain(t, top.other.base, bob)
		bc2 := newCryptoClient(t, bob2, rooms)
		version, err := bc2.mach.DownloadAndStoreLatestKeyBackup(ctx, key)
		if err != nil || version != created.Version {
			t.Fatalf("restore backup on the new device: version %s, %v (want %s)", version, err, created.Version)
		}
		for _, evt := range bc2.sync(t, roomID) {
			if evt.Type != event.EventEncrypted {
				continue
			}
			evt.RoomID = roomID
			if err := evt.Content.ParseRaw(evt.Type); err != nil {
				t.Fatal(err)
			}
			dec, err := bc2.mach.DecryptMegolmEvent(ctx, evt)
			if err != nil {
				t.Fatalf("the new device cannot decrypt with the restored key: %v", err)
			}
			if msg := dec.Content.AsMessage(); msg != nil && msg.Body == "kept in the backup" {
				return
			}
		}
		t.Fatal("the new device's initial sync has no message it decrypts to the backed-up text")
	})
}

// uploadToBackup encrypts the session to the backup key and stores it in
// the backup version.
func uploadToBackup(t *testing.T, cli *mautrix.Client, version id.KeyBackupVersion, key *backup.MegolmBackupKey, igs *crypto.InboundGroupSession) {
	t.Helper()
	first := igs.Internal.FirstKnownIndex()
	exported, err := igs.Internal.Export(first)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := backup.EncryptSessionData(key, backup.MegolmSessionData{
		Algorithm:          id.AlgorithmMegolmV1,
		ForwardingKeyChain: igs.ForwardingChains,
		SenderClaimedKeys:  backup.SenderClaimedKeys{Ed25519: igs.SigningKey},
		SenderKey:          igs.SenderKey,
		SessionKey:         string(exported),
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.PutKeysInBackup(context.Background(), version, &mautrix.ReqKeyBackup{Rooms: map[id.RoomID]mautrix.ReqRoomKeyBackup{
		igs.RoomID: {Sessions: map[id.SessionID]mautrix.ReqKeyBackupData{igs.ID(): {
			FirstMessageIndex: int(first), IsVerified: true, SessionData: raw,
		}}},
	}})
	if err != nil {
		t.Fatalf("upload to the backup: %v", err)
	}
	if resp.Count != 1 || resp.ETag == "" {
		t.Fatalf("backup upload answered count %d, etag %q; want 1 and an etag", resp.Count, resp.ETag)
	}
}
