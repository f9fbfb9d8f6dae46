package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// olmDevice is a client device with a pure-Go Olm account (mautrix's
// goolm, no build tag needed).
type olmDevice struct {
	cli  *mautrix.Client
	acct *account.Account
	ed   id.Ed25519
	curv id.Curve25519
}

func newOlmDevice(t *testing.T, cli *mautrix.Client) *olmDevice {
	t.Helper()
	acct, err := account.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	ed, curv, err := acct.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	return &olmDevice{cli: cli, acct: acct, ed: ed, curv: curv}
}

// sign adds the device's signature to obj, as the spec's "Signing JSON"
// says (canonical JSON without signatures and unsigned).
func (d *olmDevice) sign(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := d.acct.Sign(canonicaljson.CanonicalJSONAssumeValid(raw))
	if err != nil {
		t.Fatal(err)
	}
	obj["signatures"] = map[string]any{string(d.cli.UserID): map[string]any{"ed25519:" + string(d.cli.DeviceID): string(sig)}}
	return obj
}

func (d *olmDevice) post(t *testing.T, path string, body, out any) {
	t.Helper()
	if _, err := d.cli.MakeRequest(context.Background(), "POST", d.cli.BuildClientURL("v3", "keys", path), body, out); err != nil {
		t.Fatalf("POST /keys/%s: %v", path, err)
	}
}

// uploadKeys publishes the identity keys and n one-time keys.
func (d *olmDevice) uploadKeys(t *testing.T, n uint) {
	t.Helper()
	if err := d.acct.GenOneTimeKeys(n); err != nil {
		t.Fatal(err)
	}
	otks, err := d.acct.OneTimeKeys()
	if err != nil {
		t.Fatal(err)
	}
	signed := map[string]any{}
	for kid, key := range otks {
		signed["signed_curve25519:"+kid] = d.sign(t, map[string]any{"key": string(key)})
	}
	dev := string(d.cli.DeviceID)
	body := map[string]any{
		"device_keys": d.sign(t, map[string]any{
			"user_id": string(d.cli.UserID), "device_id": dev,
			"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
			"keys":       map[string]any{"ed25519:" + dev: string(d.ed), "curve25519:" + dev: string(d.curv)},
		}),
		"one_time_keys": signed,
	}
	var resp struct {
		Counts map[string]int `json:"one_time_key_counts"`
	}
	d.post(t, "upload", body, &resp)
	if resp.Counts["signed_curve25519"] != int(n) {
		t.Fatalf("one_time_key_counts = %v, want %d signed_curve25519", resp.Counts, n)
	}
	d.acct.MarkKeysAsPublished()
}

// verify checks user's device's ed25519 signature on obj.
func verify(t *testing.T, obj json.RawMessage, user id.UserID, device id.DeviceID, key id.Ed25519) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatal(err)
	}
	var sigs map[string]map[string]string
	if err := json.Unmarshal(m["signatures"], &sigs); err != nil {
		t.Fatal(err)
	}
	delete(m, "signatures")
	delete(m, "unsigned")
	raw, _ := json.Marshal(m)
	sig, err1 := base64.RawStdEncoding.DecodeString(sigs[string(user)]["ed25519:"+string(device)])
	pub, err2 := base64.RawStdEncoding.DecodeString(string(key))
	if err1 != nil || err2 != nil || !ed25519.Verify(pub, canonicaljson.CanonicalJSONAssumeValid(raw), sig) {
		t.Fatalf("signature of %s %s on %s does not verify", user, device, obj)
	}
}

// encryptTo encrypts a to-device payload for the receiver with session s
// and returns the m.room.encrypted content.
func olmContent(t *testing.T, from *olmDevice, to *olmDevice, s interface {
	Encrypt([]byte) (id.OlmMsgType, []byte, error)
}, text string) map[string]any {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type": "org.example.secret", "content": map[string]any{"text": text},
		"sender": from.cli.UserID, "recipient": to.cli.UserID,
		"recipient_keys": map[string]any{"ed25519": to.ed}, "keys": map[string]any{"ed25519": from.ed},
	})
	msgType, body, err := s.Encrypt(payload)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"algorithm":  "m.olm.v1.curve25519-aes-sha2",
		"sender_key": from.curv,
		"ciphertext": map[string]any{string(to.curv): map[string]any{"type": msgType, "body": string(body)}},
	}
}

// receive syncs d from since and returns the Olm ciphertext for d of the
// one m.room.encrypted to-device event, its sender key and next_batch.
func (d *olmDevice) receive(t *testing.T, since string) (body string, msgType id.OlmMsgType, senderKey id.Curve25519, next string, otks int) {
	t.Helper()
	s, err := d.cli.SyncRequest(context.Background(), 0, since, "", false, event.PresenceOnline)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(s.ToDevice.Events) != 1 {
		t.Fatalf("%s got %d to-device events, want 1", d.cli.UserID, len(s.ToDevice.Events))
	}
	ev := s.ToDevice.Events[0]
	var c struct {
		Algorithm  string        `json:"algorithm"`
		SenderKey  id.Curve25519 `json:"sender_key"`
		Ciphertext map[id.Curve25519]struct {
			Type id.OlmMsgType `json:"type"`
			Body string        `json:"body"`
		} `json:"ciphertext"`
	}
	if ev.Type.Type != "m.room.encrypted" {
		t.Fatalf("to-device event type %s, want m.room.encrypted", ev.Type.Type)
	}
	if err := json.Unmarshal(ev.Content.VeryRaw, &c); err != nil {
		t.Fatal(err)
	}
	ct, ok := c.Ciphertext[d.curv]
	if !ok {
		t.Fatalf("no ciphertext for %s's key: %s", d.cli.UserID, ev.Content.VeryRaw)
	}
	return ct.Body, ct.Type, c.SenderKey, s.NextBatch, s.DeviceOTKCount.SignedCurve25519
}

// decrypted returns the text of a decrypted Olm payload, checking that it
// names the right sender and recipient.
func decrypted(t *testing.T, plain []byte, from, to *olmDevice) string {
	t.Helper()
	var p struct {
		Sender        id.UserID `json:"sender"`
		Recipient     id.UserID `json:"recipient"`
		RecipientKeys struct {
			Ed25519 id.Ed25519 `json:"ed25519"`
		} `json:"recipient_keys"`
		Content struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		t.Fatal(err)
	}
	if p.Sender != from.cli.UserID || p.Recipient != to.cli.UserID || p.RecipientKeys.Ed25519 != to.ed {
		t.Fatalf("decrypted payload %s names the wrong parties", plain)
	}
	return p.Content.Text
}

// TestOlmToDeviceEndToEnd exchanges Olm-encrypted to-device messages
// between two devices through Hafen with a real Olm implementation
// (mautrix's goolm): bob publishes signed identity and one-time keys,
// alice reads them (/keys/query), checks bob's signatures, claims a
// one-time key (/keys/claim), opens an Olm session and sends an encrypted
// to-device message; bob decrypts it from his sync, which then counts one
// one-time key less, and answers on the same session.
func TestOlmToDeviceEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			alice := newOlmDevice(t, register(t, base, "alice"))
			bob := newOlmDevice(t, register(t, base, "bob"))
			alice.uploadKeys(t, 2)
			bob.uploadKeys(t, 5)

			bobSync, err := bob.cli.SyncRequest(context.Background(), 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("bob initial sync: %v\n%s", err, logs)
			}
			aliceSync, err := alice.cli.SyncRequest(context.Background(), 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}

			// Alice looks up bob's device and claims one of its keys.
			var q struct {
				DeviceKeys map[id.UserID]map[id.DeviceID]json.RawMessage `json:"device_keys"`
			}
			alice.post(t, "query", map[string]any{"device_keys": map[string]any{string(bob.cli.UserID): []string{}}}, &q)
			bobKeys := q.DeviceKeys[bob.cli.UserID][bob.cli.DeviceID]
			verify(t, bobKeys, bob.cli.UserID, bob.cli.DeviceID, bob.ed)
			var dk struct {
				Keys map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(bobKeys, &dk); err != nil {
				t.Fatal(err)
			}
			if id.Curve25519(dk.Keys["curve25519:"+string(bob.cli.DeviceID)]) != bob.curv {
				t.Fatalf("queried curve25519 key %v, want %s", dk.Keys, bob.curv)
			}
			var c struct {
				OneTimeKeys map[id.UserID]map[id.DeviceID]map[string]json.RawMessage `json:"one_time_keys"`
			}
			alice.post(t, "claim", map[string]any{"one_time_keys": map[string]any{string(bob.cli.UserID): map[string]any{string(bob.cli.DeviceID): "signed_curve25519"}}}, &c)
			var otk id.Curve25519
			for _, raw := range c.OneTimeKeys[bob.cli.UserID][bob.cli.DeviceID] {
				verify(t, raw, bob.cli.UserID, bob.cli.DeviceID, bob.ed)
				var k struct {
					Key id.Curve25519 `json:"key"`
				}
				if err := json.Unmarshal(raw, &k); err != nil {
					t.Fatal(err)
				}
				otk = k.Key
			}
			if otk == "" {
				t.Fatalf("claim returned no key: %+v", c)
			}

			out, err := alice.acct.NewOutboundSession(bob.curv, otk)
			if err != nil {
				t.Fatal(err)
			}
			sendToDeviceTxn(t, alice.cli, "m.room.encrypted", "olm1", map[id.UserID]map[id.DeviceID]any{
				bob.cli.UserID: {bob.cli.DeviceID: olmContent(t, alice, bob, out, "hello bob")},
			})

			body, msgType, senderKey, _, otks := bob.receive(t, bobSync.NextBatch)
			if msgType != id.OlmMsgTypePreKey || senderKey != alice.curv {
				t.Fatalf("first message: type %d from %s, want a pre-key message from %s", msgType, senderKey, alice.curv)
			}
			in, err := bob.acct.NewInboundSessionFrom(&senderKey, body)
			if err != nil {
				t.Fatalf("bob cannot open the inbound session: %v", err)
			}
			plain, err := in.Decrypt(body, msgType)
			if err != nil {
				t.Fatalf("bob cannot decrypt: %v", err)
			}
			if got := decrypted(t, plain, alice, bob); got != "hello bob" {
				t.Fatalf("bob decrypted %q", got)
			}
			if otks != 4 {
				t.Errorf("bob's sync counts %d one-time keys after one was claimed, want 4", otks)
			}
			if err := bob.acct.RemoveOneTimeKeys(in); err != nil {
				t.Fatal(err)
			}

			// Bob answers on the same session; alice decrypts.
			sendToDeviceTxn(t, bob.cli, "m.room.encrypted", "olm2", map[id.UserID]map[id.DeviceID]any{
				alice.cli.UserID: {alice.cli.DeviceID: olmContent(t, bob, alice, in, "hello alice")},
			})
			body, msgType, senderKey, _, _ = alice.receive(t, aliceSync.NextBatch)
			if senderKey != bob.curv {
				t.Fatalf("reply from %s, want %s", senderKey, bob.curv)
			}
			plain, err = out.Decrypt(body, msgType)
			if err != nil {
				t.Fatalf("alice cannot decrypt the reply: %v", err)
			}
			if got := decrypted(t, plain, bob, alice); got != "hello alice" {
				t.Fatalf("alice decrypted %q", got)
			}
		})
	}
}
