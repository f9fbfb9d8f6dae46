package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/core/id"
)

// keysQuery is the part of a /keys/query answer the tests read.
type keysQuery struct {
	DeviceKeys map[id.UserID]map[id.DeviceID]json.RawMessage `json:"device_keys"`
	Failures   map[string]json.RawMessage                    `json:"failures"`
}

func queryKeys(t *testing.T, base, token string, users ...id.UserID) keysQuery {
	t.Helper()
	req := map[id.UserID][]string{}
	for _, u := range users {
		req[u] = []string{}
	}
	var out keysQuery
	if st := csCall(t, base, token, http.MethodPost, "/_matrix/client/v3/keys/query", map[string]any{"device_keys": req}, &out); st != 200 {
		t.Fatalf("/keys/query = %d", st)
	}
	return out
}

// TestFederationKeysEndToEnd: a user of A reads the keys of a user of B
// (/keys/query, signatures intact), claims its one-time keys, each once,
// over federation, and learns through device_lists.changed when the user
// of B adds or removes a device, after which its query shows the change;
// a server that does not answer is listed in failures.
func TestFederationKeysEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			bobID := id.UserID(bob.UserID)
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			beforeJoin := syncOnce(t, a.base, alice.AccessToken, "", 0).NextBatch
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, nil)
			// bob's remote join makes him changed for alice's
			// /keys/changes, before any key of his is known.
			joinSync := syncOnce(t, a.base, alice.AccessToken, beforeJoin, 0)
			afterJoin := joinSync.NextBatch
			if !slices.Contains(joinSync.DeviceLists.Changed, bobID) {
				t.Errorf("sync across bob's join: device_lists.changed = %v, want bob", joinSync.DeviceLists.Changed)
			}
			var changes struct {
				Changed []id.UserID `json:"changed"`
				Left    []id.UserID `json:"left"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodGet, "/_matrix/client/v3/keys/changes?from="+url.QueryEscape(beforeJoin)+"&to="+url.QueryEscape(afterJoin), nil, &changes)
			if !slices.Contains(changes.Changed, bobID) || len(changes.Left) != 0 {
				t.Errorf("/keys/changes across bob's join = %+v, want bob changed", changes)
			}
			bobDev := newOlmDevice(t, bob)
			bobDev.uploadKeys(t, 2)

			// ghost's server is not there; silent's accepts connections
			// and never answers: both end in failures, within the
			// timeout the client gives, and bob's keys come all the same.
			ghost := id.UserID("@ghost:" + freeAddr(t))
			hang, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hang.Close() })
			silent := id.UserID("@silent:" + hang.Addr().String())
			var q keysQuery
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/query", map[string]any{
				"device_keys": map[id.UserID][]string{bobID: {}, ghost: {}, silent: {}}, "timeout": 1000}, &q)
			dk, ok := q.DeviceKeys[bobID][id.DeviceID(bob.DeviceID)]
			if !ok {
				t.Fatalf("/keys/query on A has no key of bob's device: %+v", q)
			}
			verify(t, dk, bob.UserID, bob.DeviceID, bobDev.ed)
			_, ghostFailed := q.Failures[string(ghost.Domain())]
			_, silentFailed := q.Failures[string(silent.Domain())]
			if !ghostFailed || !silentFailed || len(q.Failures) != 2 {
				t.Errorf("failures = %v, want %s and %s", q.Failures, ghost.Domain(), silent.Domain())
			}

			claim := func() map[string]json.RawMessage {
				t.Helper()
				var out struct {
					OneTimeKeys map[id.UserID]map[id.DeviceID]map[string]json.RawMessage `json:"one_time_keys"`
					Failures    map[string]json.RawMessage                               `json:"failures"`
				}
				csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/claim",
					map[string]any{"one_time_keys": map[id.UserID]any{bobID: map[string]string{string(bob.DeviceID): "signed_curve25519"}}}, &out)
				if len(out.Failures) != 0 {
					t.Errorf("claim failures: %v", out.Failures)
				}
				return out.OneTimeKeys[bobID][id.DeviceID(bob.DeviceID)]
			}
			k1, k2, k3 := claim(), claim(), claim()
			if len(k1) != 1 || len(k2) != 1 || len(k3) != 0 {
				t.Fatalf("claims = %v, %v, %v; want one key, one key, none", k1, k2, k3)
			}
			for kid, key := range k1 {
				if _, same := k2[kid]; same {
					t.Errorf("key %s claimed twice", kid)
				}
				verify(t, key, bob.UserID, bob.DeviceID, bobDev.ed)
			}

			// bob adds a device with keys: alice hears of it over
			// federation and her query shows both devices.
			since := syncOnce(t, a.base, alice.AccessToken, "", 0).NextBatch
			bob2, err := mautrix.NewClient(b.base, "", "")
			if err != nil {
				t.Fatal(err)
			}
			login, err := bob2.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
				Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: bob.UserID.Localpart()},
				Password:   "correct horse bob", StoreCredentials: true})
			if err != nil {
				t.Fatal(err)
			}
			newOlmDevice(t, bob2).uploadKeys(t, 1)
			// As a client does: each time bob is in device_lists.changed,
			// query his keys again (an earlier change, bob's first
			// upload, may come first).
			since = syncUntil(t, a.base, alice.AccessToken, since, "bob's new device", func(s edSync) bool {
				if !slices.Contains(s.DeviceLists.Changed, bobID) {
					return false
				}
				q = queryKeys(t, a.base, alice.AccessToken, bobID)
				_, ok := q.DeviceKeys[bobID][id.DeviceID(login.DeviceID)]
				return ok && len(q.DeviceKeys[bobID]) == 2
			}).NextBatch

			// bob logs the new device out: alice hears of it too.
			if _, err := bob2.MakeRequest(ctx, "POST", bob2.BuildClientURL("v3", "logout"), struct{}{}, nil); err != nil {
				t.Fatal(err)
			}
			since = syncUntil(t, a.base, alice.AccessToken, since, "bob's removed device", func(s edSync) bool {
				if !slices.Contains(s.DeviceLists.Changed, bobID) {
					return false
				}
				q = queryKeys(t, a.base, alice.AccessToken, bobID)
				_, ok := q.DeviceKeys[bobID][id.DeviceID(bob.DeviceID)]
				return ok && len(q.DeviceKeys[bobID]) == 1
			}).NextBatch

			// bob publishes a master key: alice hears of it and sees it.
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			mk := base64.RawStdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
			if st := csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/device_signing/upload", map[string]any{
				"master_key": map[string]any{"user_id": bobID, "usage": []string{"master"}, "keys": map[string]string{"ed25519:" + mk: mk}},
			}, &struct{}{}); st != 200 {
				t.Fatalf("device_signing/upload = %d", st)
			}
			syncUntil(t, a.base, alice.AccessToken, since, "bob's master key", func(s edSync) bool {
				if !slices.Contains(s.DeviceLists.Changed, bobID) {
					return false
				}
				var q struct {
					MasterKeys map[id.UserID]struct {
						Keys map[string]string `json:"keys"`
					} `json:"master_keys"`
				}
				csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[id.UserID][]string{bobID: {}}}, &q)
				return q.MasterKeys[bobID].Keys["ed25519:"+mk] == mk
			})
		})
	}
}
