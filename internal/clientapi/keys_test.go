package clientapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// keyDevice is a client device with its own keys, as an E2EE client holds
// them.
type keyDevice struct {
	e       *roomEnv
	user    id.UserID
	device  id.DeviceID
	token   string
	ed      ed25519.PrivateKey
	curve   string
	nextOTK int
}

// newKeyDevice registers a user and returns its first device.
func (e *roomEnv) newKeyDevice(name string) *keyDevice {
	e.t.Helper()
	reg := e.register(name, "pw-"+name)
	return e.keyDeviceOf(id.UserID(reg.str("user_id")), id.DeviceID(reg.str("device_id")), reg.str("access_token"))
}

func (e *roomEnv) keyDeviceOf(user id.UserID, device id.DeviceID, token string) *keyDevice {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return &keyDevice{e: e, user: user, device: device, token: token, ed: priv, curve: randomKey(e.t)}
}

// randomKey returns a base64 32-byte public key.
func randomKey(t *testing.T) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return signing.EncodeBase64(b[:])
}

// signAs signs obj as user with the ed25519 key keyID.
func signAs(t *testing.T, obj map[string]any, user id.UserID, keyID string, priv ed25519.PrivateKey) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signing.SignJSON(raw, signing.Key{ServerName: id.ServerName(user), KeyID: signing.KeyID(keyID), Private: priv})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(signed, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (d *keyDevice) edPublic() string { return signing.EncodeBase64(d.ed.Public().(ed25519.PublicKey)) }

// deviceKeys returns the device's signed DeviceKeys object.
func (d *keyDevice) deviceKeys() map[string]any {
	return signAs(d.e.t, map[string]any{
		"user_id":    string(d.user),
		"device_id":  string(d.device),
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]any{
			"ed25519:" + string(d.device):    d.edPublic(),
			"curve25519:" + string(d.device): d.curve,
		},
	}, d.user, "ed25519:"+string(d.device), d.ed)
}

// otks returns n new signed one-time keys.
func (d *keyDevice) otks(n int) map[string]any {
	out := map[string]any{}
	for range n {
		d.nextOTK++
		out[fmt.Sprintf("signed_curve25519:K%04d", d.nextOTK)] = d.signedKey(false)
	}
	return out
}

func (d *keyDevice) signedKey(fallback bool) map[string]any {
	k := map[string]any{"key": randomKey(d.e.t)}
	if fallback {
		k["fallback"] = true
	}
	return signAs(d.e.t, k, d.user, "ed25519:"+string(d.device), d.ed)
}

func (d *keyDevice) upload(body map[string]any) resp {
	d.e.t.Helper()
	return d.e.do("POST", "/_matrix/client/v3/keys/upload", d.token, body)
}

// otkCount returns one_time_key_counts.signed_curve25519 of an upload
// response.
func otkCount(r resp) float64 {
	counts, _ := r.body["one_time_key_counts"].(map[string]any)
	n, _ := counts["signed_curve25519"].(float64)
	return n
}

func (d *keyDevice) claim(user id.UserID, device id.DeviceID, alg string) resp {
	d.e.t.Helper()
	return d.e.do("POST", "/_matrix/client/v3/keys/claim", d.token, map[string]any{
		"one_time_keys": map[string]any{string(user): map[string]any{string(device): alg}},
	})
}

// claimedKeyID returns the "alg:key_id" claimed for user's device, or "".
func claimedKeyID(r resp, user id.UserID, device id.DeviceID) string {
	otks, _ := r.body["one_time_keys"].(map[string]any)
	devs, _ := otks[string(user)].(map[string]any)
	keys, _ := devs[string(device)].(map[string]any)
	for k := range keys {
		return k
	}
	return ""
}

// lookup walks a decoded JSON object.
func lookup(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// TestKeysUploadQueryClaim follows "Key management API": a device
// publishes signed identity keys, one-time keys and a fallback key
// (POST /keys/upload answers the counts), another user reads the identity
// keys (POST /keys/query, with the device's display name in unsigned) and
// claims each one-time key exactly once, then the fallback key, again and
// again (POST /keys/claim).
func TestKeysUploadQueryClaim(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, bob := e.newKeyDevice("alice"), e.newKeyDevice("bob")
		e.expect(e.do("PUT", "/_matrix/client/v3/devices/"+url.PathEscape(string(alice.device)), alice.token, map[string]any{"display_name": "Alice's phone"}), 200, "")

		res := alice.upload(map[string]any{
			"device_keys":   alice.deviceKeys(),
			"one_time_keys": alice.otks(3),
			"fallback_keys": map[string]any{"signed_curve25519:F1": alice.signedKey(true)},
		})
		e.expect(res, 200, "")
		if got := otkCount(res); got != 3 {
			t.Fatalf("one_time_key_counts.signed_curve25519 = %v, want 3: %s", got, res.raw)
		}
		// Uploading nothing answers the counts.
		res = alice.upload(map[string]any{})
		e.expect(res, 200, "")
		if got := otkCount(res); got != 3 {
			t.Fatalf("counts after an empty upload = %v, want 3", got)
		}
		// Uploading the same identity keys again is fine.
		e.expect(alice.upload(map[string]any{"device_keys": alice.deviceKeys()}), 200, "")

		q := e.do("POST", "/_matrix/client/v3/keys/query", bob.token, map[string]any{
			"device_keys": map[string]any{string(alice.user): []string{}, "@nobody:hafen.test": []string{}, "@carol:remote.test": []string{}},
		})
		e.expect(q, 200, "")
		dk := lookup(q.body, "device_keys", string(alice.user), string(alice.device))
		if got := lookup(dk, "keys", "ed25519:"+string(alice.device)); got != alice.edPublic() {
			t.Fatalf("queried ed25519 key = %v, want %s: %s", got, alice.edPublic(), q.raw)
		}
		if got := lookup(dk, "unsigned", "device_display_name"); got != "Alice's phone" {
			t.Errorf("unsigned.device_display_name = %v, want Alice's phone", got)
		}
		if _, ok := lookup(q.body, "failures", "remote.test").(map[string]any); !ok {
			t.Errorf("failures lacks the remote server: %s", q.raw)
		}
		// An unknown user is missing from device_keys (keys.yaml); a user
		// without keys has an empty map.
		if _, ok := lookup(q.body, "device_keys").(map[string]any)["@nobody:hafen.test"]; ok {
			t.Errorf("device_keys lists an unknown user: %s", q.raw)
		}
		q2 := e.do("POST", "/_matrix/client/v3/keys/query", alice.token, map[string]any{"device_keys": map[string]any{string(bob.user): []string{}}})
		e.expect(q2, 200, "")
		if devs, ok := lookup(q2.body, "device_keys", string(bob.user)).(map[string]any); !ok || len(devs) != 0 {
			t.Errorf("device_keys of a user without keys = %s, want an empty map", q2.raw)
		}
		// The key still verifies as its device signed it.
		raw, _ := json.Marshal(dk)
		if err := signing.VerifyJSON(raw, id.ServerName(alice.user), signing.KeyID("ed25519:"+string(alice.device)), alice.ed.Public().(ed25519.PublicKey)); err != nil {
			t.Errorf("queried device keys no longer verify: %v", err)
		}
		// Only the listed devices are returned.
		q = e.do("POST", "/_matrix/client/v3/keys/query", bob.token, map[string]any{
			"device_keys": map[string]any{string(alice.user): []string{"OTHER"}},
		})
		e.expect(q, 200, "")
		if devs, _ := lookup(q.body, "device_keys", string(alice.user)).(map[string]any); len(devs) != 0 {
			t.Errorf("query of an unknown device returned %v", devs)
		}

		seen := map[string]bool{}
		for i := range 3 {
			c := bob.claim(alice.user, alice.device, "signed_curve25519")
			e.expect(c, 200, "")
			k := claimedKeyID(c, alice.user, alice.device)
			if k == "" || k == "signed_curve25519:F1" || seen[k] {
				t.Fatalf("claim %d got %q (seen %v), want a new one-time key: %s", i, k, seen, c.raw)
			}
			seen[k] = true
		}
		for i := range 2 {
			c := bob.claim(alice.user, alice.device, "signed_curve25519")
			e.expect(c, 200, "")
			if k := claimedKeyID(c, alice.user, alice.device); k != "signed_curve25519:F1" {
				t.Fatalf("claim %d after the one-time keys ran out got %q, want the fallback key: %s", i, k, c.raw)
			}
			if fb := lookup(c.body, "one_time_keys", string(alice.user), string(alice.device), "signed_curve25519:F1", "fallback"); fb != true {
				t.Errorf("claimed fallback key lacks fallback: true: %s", c.raw)
			}
		}
		// An algorithm the device has no key of gives nothing.
		c := bob.claim(alice.user, alice.device, "curve25519")
		e.expect(c, 200, "")
		if k := claimedKeyID(c, alice.user, alice.device); k != "" {
			t.Errorf("claim of curve25519 got %q, want nothing", k)
		}
		res = alice.upload(map[string]any{})
		if got := otkCount(res); got != 0 {
			t.Errorf("counts after every key was claimed = %v, want 0", got)
		}
	})
}

// TestKeysUploadRefused checks what /keys/upload refuses, each with 400
// and the spec's errcode, storing nothing of the request.
func TestKeysUploadRefused(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, bob := e.newKeyDevice("alice"), e.newKeyDevice("bob")
		e.expect(bob.upload(map[string]any{"device_keys": bob.deviceKeys()}), 200, "")

		withKeys := func(mod func(m map[string]any)) map[string]any {
			m := map[string]any{
				"user_id":    string(alice.user),
				"device_id":  string(alice.device),
				"algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
				"keys": map[string]any{
					"ed25519:" + string(alice.device):    alice.edPublic(),
					"curve25519:" + string(alice.device): alice.curve,
				},
			}
			mod(m)
			return signAs(t, m, alice.user, "ed25519:"+string(alice.device), alice.ed)
		}
		otherDevice := e.keyDeviceOf(alice.user, alice.device, alice.token)
		tests := []struct {
			name    string
			body    map[string]any
			errcode string
		}{
			{"another user's device", map[string]any{"device_keys": bob.deviceKeys()}, "M_INVALID_PARAM"},
			{"user_id of another user", map[string]any{"device_keys": withKeys(func(m map[string]any) { m["user_id"] = string(bob.user) })}, "M_INVALID_PARAM"},
			{"device_id of another device", map[string]any{"device_keys": withKeys(func(m map[string]any) { m["device_id"] = "ELSEWHERE" })}, "M_INVALID_PARAM"},
			{"malformed algorithm", map[string]any{"device_keys": withKeys(func(m map[string]any) { m["algorithms"] = []string{"not an algorithm!"} })}, "M_INVALID_PARAM"},
			{"no algorithms", map[string]any{"device_keys": withKeys(func(m map[string]any) { m["algorithms"] = []string{} })}, "M_INVALID_PARAM"},
			{"key not base64", map[string]any{"device_keys": withKeys(func(m map[string]any) {
				m["keys"].(map[string]any)["curve25519:"+string(alice.device)] = "not*base64"
			})}, "M_INVALID_PARAM"},
			{"key named after another device", map[string]any{"device_keys": withKeys(func(m map[string]any) {
				m["keys"].(map[string]any)["curve25519:OTHER"] = alice.curve
			})}, "M_INVALID_PARAM"},
			{"no ed25519 key", map[string]any{"device_keys": withKeys(func(m map[string]any) {
				delete(m["keys"].(map[string]any), "ed25519:"+string(alice.device))
			})}, "M_INVALID_PARAM"},
			{"not self-signed", map[string]any{"device_keys": func() map[string]any {
				m := withKeys(func(map[string]any) {})
				delete(m, "signatures")
				return m
			}()}, "M_INVALID_SIGNATURE"},
			{"signed by another key", map[string]any{"device_keys": func() map[string]any {
				m := withKeys(func(map[string]any) {})
				m["algorithms"] = []string{"m.megolm.v1.aes-sha2"} // after signing
				return m
			}()}, "M_INVALID_SIGNATURE"},
			{"one-time key without device keys", map[string]any{"one_time_keys": alice.otks(1)}, "M_INVALID_SIGNATURE"},
			{"one-time key ID without algorithm", map[string]any{"device_keys": alice.deviceKeys(), "one_time_keys": map[string]any{"AAAA": alice.signedKey(false)}}, "M_INVALID_PARAM"},
			{"one-time key with malformed algorithm", map[string]any{"device_keys": alice.deviceKeys(), "one_time_keys": map[string]any{"bad alg:AAAA": alice.signedKey(false)}}, "M_INVALID_PARAM"},
			{"one-time key signed by another device", map[string]any{"device_keys": alice.deviceKeys(), "one_time_keys": otherDevice.otks(1)}, "M_INVALID_SIGNATURE"},
			{"curve25519 key that is no key", map[string]any{"device_keys": alice.deviceKeys(), "one_time_keys": map[string]any{"curve25519:AAAA": "short"}}, "M_INVALID_PARAM"},
			{"two fallback keys of one algorithm", map[string]any{"device_keys": alice.deviceKeys(), "fallback_keys": map[string]any{
				"signed_curve25519:F1": alice.signedKey(true), "signed_curve25519:F2": alice.signedKey(true),
			}}, "M_INVALID_PARAM"},
		}
		for _, tc := range tests {
			res := alice.upload(tc.body)
			if res.status != 400 || res.str("errcode") != tc.errcode {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, res.status, res.raw, tc.errcode)
			}
		}
		// Nothing of the refused uploads was stored.
		q := e.do("POST", "/_matrix/client/v3/keys/query", alice.token, map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
		e.expect(q, 200, "")
		if devs, _ := lookup(q.body, "device_keys", string(alice.user)).(map[string]any); len(devs) != 0 {
			t.Fatalf("refused uploads stored device keys: %s", q.raw)
		}
		if got := otkCount(alice.upload(map[string]any{})); got != 0 {
			t.Fatalf("refused uploads stored %v one-time keys", got)
		}

		// A device's identity keys cannot change once published.
		e.expect(alice.upload(map[string]any{"device_keys": alice.deviceKeys(), "one_time_keys": alice.otks(1)}), 200, "")
		res := alice.upload(map[string]any{"device_keys": otherDevice.deviceKeys()})
		e.expect(res, 400, "M_INVALID_PARAM")
		// Nor may a one-time key ID be reused with another key.
		alice.nextOTK--
		e.expect(alice.upload(map[string]any{"one_time_keys": alice.otks(1)}), 400, "M_INVALID_PARAM")

		// Claims and queries with malformed input.
		e.expect(bob.claim(alice.user, alice.device, "bad algorithm!"), 400, "M_INVALID_PARAM")
		e.expect(bob.claim(alice.user, alice.device, ""), 400, "M_INVALID_PARAM")
		e.expect(bob.claim("not-a-user", alice.device, "signed_curve25519"), 400, "M_INVALID_PARAM")
		e.expect(e.do("POST", "/_matrix/client/v3/keys/claim", bob.token, map[string]any{}), 400, "M_MISSING_PARAM")
		e.expect(e.do("POST", "/_matrix/client/v3/keys/claim", bob.token, map[string]any{"one_time_keys": []string{}}), 400, "M_BAD_JSON")
		e.expect(e.do("POST", "/_matrix/client/v3/keys/query", bob.token, map[string]any{"device_keys": map[string]any{"nobody": []string{}}}), 400, "M_INVALID_PARAM")
		e.expect(e.do("POST", "/_matrix/client/v3/keys/upload", "", map[string]any{}), 401, "M_MISSING_TOKEN")
		// The key bob failed to claim is still there.
		if got := otkCount(alice.upload(map[string]any{})); got != 1 {
			t.Fatalf("count after refused claims = %v, want 1", got)
		}
	})
}

// TestKeysGoWithTheirDevice: a deleted device's identity, one-time and
// fallback keys are gone from /keys/query and /keys/claim.
func TestKeysGoWithTheirDevice(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, bob := e.newKeyDevice("alice"), e.newKeyDevice("bob")
		login := e.login("alice", "pw-alice", "SECOND")
		e.expect(login, 200, "")
		second := e.keyDeviceOf(alice.user, "SECOND", login.str("access_token"))
		e.expect(second.upload(map[string]any{
			"device_keys": second.deviceKeys(), "one_time_keys": second.otks(2),
			"fallback_keys": map[string]any{"signed_curve25519:F": second.signedKey(true)},
		}), 200, "")
		query := func() map[string]any {
			q := e.do("POST", "/_matrix/client/v3/keys/query", bob.token, map[string]any{"device_keys": map[string]any{string(alice.user): []string{}}})
			e.expect(q, 200, "")
			devs, _ := lookup(q.body, "device_keys", string(alice.user)).(map[string]any)
			return devs
		}
		if _, ok := query()["SECOND"]; !ok {
			t.Fatalf("the second device's keys are not queryable")
		}
		res := e.do("DELETE", "/_matrix/client/v3/devices/SECOND", alice.token, map[string]any{})
		e.expect(res, 401, "")
		e.expect(e.do("DELETE", "/_matrix/client/v3/devices/SECOND", alice.token, map[string]any{
			"auth": passwordAuth(string(alice.user), "pw-alice", res.str("session")),
		}), 200, "")
		if devs := query(); len(devs) != 0 {
			t.Errorf("keys of the deleted device still queryable: %v", devs)
		}
		if k := claimedKeyID(bob.claim(alice.user, "SECOND", "signed_curve25519"), alice.user, "SECOND"); k != "" {
			t.Errorf("claimed %q of a deleted device", k)
		}
	})
}

// TestKeysClaimedInUploadOrder follows POST /keys/claim since v1.13
// (MSC4225): one-time keys are handed out in the order they were uploaded,
// whatever their key IDs, so a client that forgets its oldest keys does
// not have them claimed later.
func TestKeysClaimedInUploadOrder(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, bob := e.newKeyDevice("alice"), e.newKeyDevice("bob")
		e.expect(alice.upload(map[string]any{"device_keys": alice.deviceKeys()}), 200, "")
		// Key IDs that sort against their upload order.
		for _, keyID := range []string{"zzz", "mmm", "aaa"} {
			e.expect(alice.upload(map[string]any{"one_time_keys": map[string]any{
				"signed_curve25519:" + keyID: alice.signedKey(false),
			}}), 200, "")
		}
		for _, want := range []string{"zzz", "mmm", "aaa"} {
			r := bob.claim(alice.user, alice.device, "signed_curve25519")
			e.expect(r, 200, "")
			if got := claimedKeyID(r, alice.user, alice.device); got != "signed_curve25519:"+want {
				t.Errorf("claimed %q, want signed_curve25519:%s (upload order)", got, want)
			}
		}
	})
}
