package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// csKeyPair is one cross-signing key of a test user.
type csKeyPair struct {
	priv ed25519.PrivateKey
	pub  string
}

func newCSKeyPair(t *testing.T) csKeyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return csKeyPair{priv: priv, pub: signing.EncodeBase64(priv.Public().(ed25519.PublicKey))}
}

func (k csKeyPair) keyID() string { return "ed25519:" + k.pub }

// csObject returns user's CrossSigningKey object of key for usage, signed
// by signer's key signerKey unless signerKey is nil.
func csObject(t *testing.T, user id.UserID, usage string, key csKeyPair, signer id.UserID, signerKey *csKeyPair) map[string]any {
	t.Helper()
	obj := map[string]any{"user_id": string(user), "usage": []string{usage}, "keys": map[string]any{key.keyID(): key.pub}}
	if signerKey == nil {
		return obj
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signing.SignJSON(raw, signing.Key{ServerName: id.ServerName(signer), KeyID: signing.KeyID(signerKey.keyID()), Private: signerKey.priv})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(signed, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrossSigningOtherServerUserEndToEnd: alice of A verifies carol of B
// by signing carol's master key with her user-signing key
// (cross_signing.yaml: the signed object "must match the key previously
// uploaded or retrieved for the given key ID"). A keeps the signature and
// shows it to alice when she queries carol's keys again, and to no other
// user.
func TestCrossSigningOtherServerUserEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			dave := register(t, a.base, "dave")
			carol := register(t, b.base, "carol")
			aliceID, carolID := id.UserID(alice.UserID), id.UserID(carol.UserID)
			aliceMaster, aliceUSK := newCSKeyPair(t), newCSKeyPair(t)
			carolMaster := newCSKeyPair(t)
			upload := func(base, token string, user id.UserID, master csKeyPair, usk *csKeyPair) {
				t.Helper()
				body := map[string]any{"master_key": csObject(t, user, "master", master, "", nil)}
				if usk != nil {
					body["user_signing_key"] = csObject(t, user, "user_signing", *usk, user, &master)
				}
				csCall(t, base, token, http.MethodPost, "/_matrix/client/v3/keys/device_signing/upload", body, &struct{}{})
			}
			upload(a.base, alice.AccessToken, aliceID, aliceMaster, &aliceUSK)
			upload(b.base, carol.AccessToken, carolID, carolMaster, nil)

			// alice signs carol's master key as her server retrieved it.
			signed := csObject(t, carolID, "master", carolMaster, aliceID, &aliceUSK)
			var res struct {
				Failures map[string]any `json:"failures"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/signatures/upload",
				map[string]any{string(carolID): map[string]any{carolMaster.pub: signed}}, &res)
			if len(res.Failures) != 0 {
				t.Fatalf("signature on carol's master key refused: %v", res.Failures)
			}

			signatureSeenBy := func(token string) bool {
				var q struct {
					MasterKeys map[string]struct {
						Signatures map[string]map[string]string `json:"signatures"`
					} `json:"master_keys"`
				}
				csCall(t, a.base, token, http.MethodPost, "/_matrix/client/v3/keys/query",
					map[string]any{"device_keys": map[string]any{string(carolID): []string{}}}, &q)
				mk, ok := q.MasterKeys[string(carolID)]
				if !ok {
					t.Fatalf("A's /keys/query has no master key of carol")
				}
				return mk.Signatures[string(aliceID)][aliceUSK.keyID()] != ""
			}
			if !signatureSeenBy(alice.AccessToken) {
				t.Errorf("alice does not see her signature on carol's master key")
			}
			if signatureSeenBy(dave.AccessToken) {
				t.Errorf("dave sees alice's user-signing signature on carol's master key")
			}

			// A signature over another key than carol's is refused.
			forged := csObject(t, carolID, "master", newCSKeyPair(t), aliceID, &aliceUSK)
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/signatures/upload",
				map[string]any{string(carolID): map[string]any{carolMaster.pub: forged}}, &res)
			if len(res.Failures) == 0 {
				t.Errorf("a signature over another key than carol's master key was accepted")
			}
		})
	}
}
