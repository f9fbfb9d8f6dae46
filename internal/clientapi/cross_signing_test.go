package clientapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// csKey is a cross-signing key pair.
type csKey struct {
	priv ed25519.PrivateKey
	pub  string
}

func newCSKey(t *testing.T) csKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return csKey{priv: priv, pub: signing.EncodeBase64(priv.Public().(ed25519.PublicKey))}
}

func (k csKey) id() string { return "ed25519:" + k.pub }

// object returns the CrossSigningKey object of user for usage, signed by
// signer unless signer is nil.
func (k csKey) object(t *testing.T, user id.UserID, usage string, signer *csKey) map[string]any {
	obj := map[string]any{"user_id": string(user), "usage": []string{usage}, "keys": map[string]any{k.id(): k.pub}}
	if signer != nil {
		obj = signAs(t, obj, user, signer.id(), signer.priv)
	}
	return obj
}

// crossSigning is a user's three cross-signing keys.
type crossSigning struct{ master, self, user csKey }

func newCrossSigning(t *testing.T) crossSigning {
	return crossSigning{newCSKey(t), newCSKey(t), newCSKey(t)}
}

func (c crossSigning) body(t *testing.T, user id.UserID) map[string]any {
	return map[string]any{
		"master_key":       c.master.object(t, user, "master", nil),
		"self_signing_key": c.self.object(t, user, "self_signing", &c.master),
		"user_signing_key": c.user.object(t, user, "user_signing", &c.master),
	}
}

const deviceSigningPath = "/_matrix/client/v3/keys/device_signing/upload"
const signaturesPath = "/_matrix/client/v3/keys/signatures/upload"

// TestCrossSigningUpload follows POST /keys/device_signing/upload: the
// first upload needs no UIA, nor does repeating the stored keys, but
// replacing them does; the keys must be well formed and the self-signing
// and user-signing keys signed by the master key. /keys/query shows the
// user-signing key to its owner only.
func TestCrossSigningUpload(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, bob := e.newKeyDevice("alice"), e.newKeyDevice("bob")
		cs := newCrossSigning(t)
		e.expect(e.do("POST", deviceSigningPath, alice.token, cs.body(t, alice.user)), 200, "")
		e.expect(e.do("POST", deviceSigningPath, alice.token, cs.body(t, alice.user)), 200, "")
		// Without the master key the request is not "the existing master
		// signing key" again: UIA, even for keys the server has.
		e.expect(e.do("POST", deviceSigningPath, alice.token, map[string]any{"self_signing_key": cs.body(t, alice.user)["self_signing_key"]}), 401, "")
		e.expect(e.do("POST", deviceSigningPath, alice.token, map[string]any{}), 401, "")

		// New keys need the password.
		cs2 := newCrossSigning(t)
		body := cs2.body(t, alice.user)
		res := e.do("POST", deviceSigningPath, alice.token, body)
		e.expect(res, 401, "")
		if _, ok := res.body["flows"]; !ok {
			t.Fatalf("replacing the keys answered no UIA challenge: %s", res.raw)
		}
		body["auth"] = passwordAuth(string(alice.user), "pw-wrong", res.str("session"))
		e.expect(e.do("POST", deviceSigningPath, alice.token, body), 401, "M_FORBIDDEN")
		body["auth"] = passwordAuth(string(alice.user), "pw-alice", res.str("session"))
		e.expect(e.do("POST", deviceSigningPath, alice.token, body), 200, "")

		q := func(who *keyDevice) resp {
			r := e.do("POST", "/_matrix/client/v3/keys/query", who.token, map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
			e.expect(r, 200, "")
			return r
		}
		own := q(alice)
		if got := lookup(own.body, "master_keys", string(alice.user), "keys", cs2.master.id()); got != cs2.master.pub {
			t.Errorf("master key = %v, want the replacement %s: %s", got, cs2.master.pub, own.raw)
		}
		if got := lookup(own.body, "self_signing_keys", string(alice.user), "keys", cs2.self.id()); got != cs2.self.pub {
			t.Errorf("self-signing key = %v, want %s", got, cs2.self.pub)
		}
		if got := lookup(own.body, "user_signing_keys", string(alice.user), "keys", cs2.user.id()); got != cs2.user.pub {
			t.Errorf("the owner does not see the user-signing key: %s", own.raw)
		}
		other := q(bob)
		if lookup(other.body, "master_keys", string(alice.user)) == nil || lookup(other.body, "self_signing_keys", string(alice.user)) == nil {
			t.Errorf("another user does not see the master and self-signing keys: %s", other.raw)
		}
		if got := lookup(other.body, "user_signing_keys", string(alice.user)); got != nil {
			t.Errorf("another user sees the user-signing key: %s", other.raw)
		}

		// Refused uploads, by a user without keys (so no UIA comes first).
		bcs := newCrossSigning(t)
		twoKeys := bcs.master.object(t, bob.user, "master", nil)
		twoKeys["keys"].(map[string]any)[bcs.self.id()] = bcs.self.pub
		tests := []struct {
			name    string
			body    map[string]any
			errcode string
		}{
			{"self-signing key without any master key", map[string]any{"self_signing_key": bcs.self.object(t, bob.user, "self_signing", &bcs.master)}, "M_MISSING_PARAM"},
			{"self-signing key not signed by the master key", map[string]any{
				"master_key": bcs.master.object(t, bob.user, "master", nil), "self_signing_key": bcs.self.object(t, bob.user, "self_signing", nil)}, "M_INVALID_SIGNATURE"},
			{"user-signing key signed by another key", map[string]any{
				"master_key": bcs.master.object(t, bob.user, "master", nil), "user_signing_key": bcs.user.object(t, bob.user, "user_signing", &bcs.self)}, "M_INVALID_SIGNATURE"},
			{"master key of another user", map[string]any{"master_key": bcs.master.object(t, alice.user, "master", nil)}, "M_INVALID_PARAM"},
			{"master key with the wrong usage", map[string]any{"master_key": bcs.master.object(t, bob.user, "self_signing", nil)}, "M_INVALID_PARAM"},
			{"master key with two keys", map[string]any{"master_key": twoKeys}, "M_INVALID_PARAM"},
			{"key named after another key", map[string]any{"master_key": map[string]any{
				"user_id": string(bob.user), "usage": []string{"master"}, "keys": map[string]any{bcs.master.id(): bcs.self.pub}}}, "M_INVALID_PARAM"},
		}
		for _, tc := range tests {
			res := e.do("POST", deviceSigningPath, bob.token, tc.body)
			if res.status != 400 || res.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, res.status, res.raw, tc.errcode)
			}
		}
		if got := lookup(q(bob).body, "master_keys", string(bob.user)); got != nil {
			t.Errorf("a refused upload stored a master key: %v", got)
		}
	})
}

// TestCrossSigningSignatures follows POST /keys/signatures/upload: the
// self-signing key signs the user's devices, a device signs the user's
// master key, the user-signing key signs other users' master keys; bad or
// misplaced signatures are reported per key in failures, and a signature
// by another user's user-signing key is shown only to that user.
func TestCrossSigningSignatures(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, bob, carol := e.newKeyDevice("alice"), e.newKeyDevice("bob"), e.newKeyDevice("carol")
		acs, bcs := newCrossSigning(t), newCrossSigning(t)
		e.expect(alice.upload(map[string]any{"device_keys": alice.deviceKeys()}), 200, "")
		e.expect(bob.upload(map[string]any{"device_keys": bob.deviceKeys()}), 200, "")
		e.expect(e.do("POST", deviceSigningPath, alice.token, acs.body(t, alice.user)), 200, "")
		e.expect(e.do("POST", deviceSigningPath, bob.token, bcs.body(t, bob.user)), 200, "")

		signedDevice := signAs(t, alice.deviceKeys(), alice.user, acs.self.id(), acs.self.priv)
		signedMaster := signAs(t, acs.master.object(t, alice.user, "master", nil), alice.user, "ed25519:"+string(alice.device), alice.ed)
		bobMaster := signAs(t, bcs.master.object(t, bob.user, "master", nil), alice.user, acs.user.id(), acs.user.priv)
		forged := alice.deviceKeys()
		forged["algorithms"] = []string{"m.megolm.v1.aes-sha2"}
		forged = signAs(t, forged, alice.user, acs.self.id(), acs.self.priv)
		bobDevice := signAs(t, bob.deviceKeys(), alice.user, acs.self.id(), acs.self.priv)

		res := e.do("POST", signaturesPath, alice.token, map[string]any{
			string(alice.user): map[string]any{string(alice.device): signedDevice, acs.master.pub: signedMaster, "NOSUCHDEVICE": signedDevice},
			string(bob.user):   map[string]any{bcs.master.pub: bobMaster, string(bob.device): bobDevice},
		})
		e.expect(res, 200, "")
		failures, _ := res.body["failures"].(map[string]any)
		if got := lookup(failures, string(alice.user), "NOSUCHDEVICE", "errcode"); got != "M_NOT_FOUND" {
			t.Errorf("signature on an unknown device: failure %v, want M_NOT_FOUND: %s", got, res.raw)
		}
		if got := lookup(failures, string(bob.user), string(bob.device), "errcode"); got == nil {
			t.Errorf("signing another user's device was not refused: %s", res.raw)
		}
		if len(lookup(failures, string(alice.user)).(map[string]any)) != 1 || len(lookup(failures, string(bob.user)).(map[string]any)) != 1 {
			t.Errorf("failures = %s, want only the unknown device and bob's device", res.raw)
		}

		// A signature over another object than the stored key is refused.
		res = e.do("POST", signaturesPath, alice.token, map[string]any{string(alice.user): map[string]any{string(alice.device): forged}})
		e.expect(res, 200, "")
		if got := lookup(res.body, "failures", string(alice.user), string(alice.device), "errcode"); got != "M_INVALID_SIGNATURE" {
			t.Errorf("forged signature: failure %v, want M_INVALID_SIGNATURE: %s", got, res.raw)
		}

		query := func(who *keyDevice, user id.UserID) resp {
			r := e.do("POST", "/_matrix/client/v3/keys/query", who.token, map[string]any{"device_keys": map[string]any{string(user): []string{}}})
			e.expect(r, 200, "")
			return r
		}
		a := query(bob, alice.user)
		if got := lookup(a.body, "device_keys", string(alice.user), string(alice.device), "signatures", string(alice.user), acs.self.id()); got != lookup(signedDevice, "signatures", string(alice.user), acs.self.id()) {
			t.Errorf("device keys lack the self-signing signature: %s", a.raw)
		}
		if got := lookup(a.body, "master_keys", string(alice.user), "signatures", string(alice.user), "ed25519:"+string(alice.device)); got == nil {
			t.Errorf("master key lacks the device's signature: %s", a.raw)
		}
		sigPath := []string{"master_keys", string(bob.user), "signatures", string(alice.user), acs.user.id()}
		if got := lookup(query(alice, bob.user).body, sigPath...); got == nil {
			t.Errorf("alice does not see her signature on bob's master key")
		}
		if got := lookup(query(carol, bob.user).body, sigPath...); got != nil {
			t.Errorf("carol sees alice's user-signing signature on bob's master key")
		}
		e.expect(e.do("POST", signaturesPath, alice.token, map[string]any{"not-a-user": map[string]any{}}), 400, "M_INVALID_PARAM")
	})
}

// A login may not name a device after one of the user's cross-signing
// keys (login.yaml: 403 M_FORBIDDEN; § Cross-signing: "servers MUST not
// allow devices to have the same IDs as cross-signing keys").
func TestLoginRefusesCrossSigningKeyAsDeviceID(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice := e.newKeyDevice("alice")
		cs := newCrossSigning(t)
		e.expect(e.do("POST", deviceSigningPath, alice.token, cs.body(t, alice.user)), 200, "")
		login := func(deviceID string) resp {
			return e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
				"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": string(alice.user)},
				"password": "pw-alice", "device_id": deviceID})
		}
		for _, k := range []csKey{cs.master, cs.self, cs.user} {
			e.expect(login(k.pub), 403, "M_FORBIDDEN")
		}
		e.expect(login("PHONE"), 200, "")
	})
}
