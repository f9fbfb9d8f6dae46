package fedapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/serverkeys"
)

// keysOf returns the lookup of one server's public key.
func keyLookupOf(servers ...*testServer) signing.KeyLookup {
	return func(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
		for _, s := range servers {
			if s.name == server && s.key.KeyID == keyID {
				return signing.VerifyKey{Public: s.key.Public(), ValidUntilTS: 1 << 62}, true
			}
		}
		return signing.VerifyKey{}, false
	}
}

// TestKeyExchange runs three servers: A fetches B's keys directly; B
// fetches C's; C goes away; A, whose notary is B, still gets C's keys
// through B. The notary endpoints answer with responses signed by both
// the server and the notary. A's cache survives a restart while nobody
// answers.
func TestKeyExchange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newDSN backend) {
		ctx := context.Background()
		b := startServer(t, newDSN)
		c := startServer(t, newDSN)
		a := startServer(t, newDSN, withNotaries(b.name))

		// Directly.
		pub, err := a.keys.RequestKey(ctx, b.name, b.key.KeyID)
		if err != nil || !pub.Equal(b.key.Public()) {
			t.Fatalf("A: RequestKey(B) = %x, %v; want B's key", pub, err)
		}
		if _, err := b.keys.RequestKey(ctx, c.name, c.key.KeyID); err != nil {
			t.Fatalf("B: RequestKey(C) = %v", err)
		}
		c.srv.Close()

		// Through the notary B, as C does not answer.
		if _, err := a.client.Do(ctx, federation.Request{Destination: c.name, Method: http.MethodGet, Path: "/_matrix/key/v2/server", Unsigned: true}); err == nil {
			t.Fatalf("C still answers")
		}
		pub, err = a.keys.RequestKey(ctx, c.name, c.key.KeyID)
		if err != nil || !pub.Equal(c.key.Public()) {
			t.Fatalf("A: RequestKey(C) through B = %x, %v; want C's key", pub, err)
		}

		// The notary's answers carry both signatures.
		// A minimum validity beyond the cached response makes B try C again;
		// C is down, so B answers from its cache, as the spec asks of
		// notaries.
		farFuture := strconv.FormatInt(time.Now().Add(30*24*time.Hour).UnixMilli(), 10)
		for _, req := range []federation.Request{
			{Destination: b.name, Method: http.MethodGet, Path: "/_matrix/key/v2/query/" + string(c.name)},
			{Destination: b.name, Method: http.MethodGet, Path: "/_matrix/key/v2/query/" + string(c.name) + "?minimum_valid_until_ts=" + farFuture},
			{Destination: b.name, Method: http.MethodPost, Path: "/_matrix/key/v2/query",
				Body: []byte(`{"server_keys":{"` + string(c.name) + `":{"` + string(c.key.KeyID) + `":{"minimum_valid_until_ts":1}},"` + string(b.name) + `":{}}}`)},
		} {
			req.Unsigned = true
			var resp struct {
				ServerKeys []json.RawMessage `json:"server_keys"`
			}
			if err := a.client.DoJSON(ctx, req, &resp); err != nil {
				t.Fatalf("%s %s = %v", req.Method, req.Path, err)
			}
			want := 1
			if req.Method == http.MethodPost {
				want = 2
			}
			if len(resp.ServerKeys) != want {
				t.Fatalf("%s %s: %d responses, want %d", req.Method, req.Path, len(resp.ServerKeys), want)
			}
			for _, raw := range resp.ServerKeys {
				var head struct {
					ServerName id.ServerName `json:"server_name"`
				}
				json.Unmarshal(raw, &head)
				if _, err := signing.ParseKeyResponse(raw, head.ServerName, 0); err != nil {
					t.Errorf("%s %s: response for %s: %v", req.Method, req.Path, head.ServerName, err)
				}
				if err := signing.CheckSignatures(raw, b.name, 0, false, keyLookupOf(b)); err != nil {
					t.Errorf("%s %s: response for %s not signed by the notary: %v", req.Method, req.Path, head.ServerName, err)
				}
			}
		}

		// A restarts; nobody answers any more, the cache still knows.
		b.srv.Close()
		a.restart(t, a.key)
		for _, s := range []*testServer{b, c} {
			vk, ok := a.keys.Lookup(s.name, s.key.KeyID)
			if !ok || !vk.Public.Equal(s.key.Public()) || vk.IsOld() {
				t.Errorf("after restart: Lookup(%s) = %+v, %v; want its current key", s.name, vk, ok)
			}
			if _, err := a.keys.RequestKey(ctx, s.name, s.key.KeyID); err != nil {
				t.Errorf("after restart: RequestKey(%s) = %v", s.name, err)
			}
		}
		if _, ok := a.keys.Lookup(b.name, "ed25519:unknown"); ok {
			t.Errorf("Lookup(unknown key ID) found a key")
		}
	})
}

// TestKeyRotation restarts a server with a new key: its key response
// lists the old key under old_verify_keys, other servers learn it as an
// old key (valid for events, never for requests), and the history
// survives another restart.
func TestKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newDSN backend) {
		ctx := context.Background()
		b := startServer(t, newDSN)
		a := startServer(t, newDSN)
		old := b.key
		if _, err := a.keys.RequestKey(ctx, b.name, old.KeyID); err != nil {
			t.Fatal(err)
		}
		before := b.clock.Now().UnixMilli()
		b.restart(t, newKey(t, b.name))
		b.restart(t, b.key) // the same key again changes nothing

		var resp struct {
			VerifyKeys    map[signing.KeyID]struct{ Key string } `json:"verify_keys"`
			OldVerifyKeys map[signing.KeyID]struct {
				Key       string `json:"key"`
				ExpiredTS int64  `json:"expired_ts"`
			} `json:"old_verify_keys"`
			ValidUntilTS int64 `json:"valid_until_ts"`
		}
		raw, err := a.client.Do(ctx, federation.Request{Destination: b.name, Method: http.MethodGet, Path: "/_matrix/key/v2/server", Unsigned: true})
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw, &resp)
		if _, ok := resp.VerifyKeys[b.key.KeyID]; !ok || len(resp.VerifyKeys) != 1 {
			t.Errorf("verify_keys = %v, want only %s", resp.VerifyKeys, b.key.KeyID)
		}
		o, ok := resp.OldVerifyKeys[old.KeyID]
		if !ok || o.Key != signing.EncodeBase64(old.Public()) || o.ExpiredTS < before {
			t.Errorf("old_verify_keys = %+v, want %s expired at or after %d", resp.OldVerifyKeys, old.KeyID, before)
		}
		if resp.ValidUntilTS < b.clock.Now().Add(serverkeys.DefaultOwnValidity/2).UnixMilli() {
			t.Errorf("valid_until_ts = %d, less than half a validity period ahead", resp.ValidUntilTS)
		}
		if _, err := signing.ParseKeyResponse(raw, b.name, b.clock.Now().UnixMilli()); err != nil {
			t.Errorf("key response after rotation: %v", err)
		}

		// A learns the new key (an unknown key ID triggers a fetch) and
		// that the old one is old.
		a.clock.Advance(2 * serverkeys.DefaultRefetchInterval)
		if _, err := a.keys.RequestKey(ctx, b.name, b.key.KeyID); err != nil {
			t.Fatalf("RequestKey(new key) = %v", err)
		}
		vk, ok := a.keys.Lookup(b.name, old.KeyID)
		if !ok || !vk.IsOld() || vk.ExpiredTS != o.ExpiredTS {
			t.Errorf("Lookup(old key) = %+v, %v; want an old key expired at %d", vk, ok, o.ExpiredTS)
		}
		if _, err := a.keys.RequestKey(ctx, b.name, old.KeyID); !errors.Is(err, serverkeys.ErrExpiredKey) {
			t.Errorf("RequestKey(old key) = %v, want ErrExpiredKey", err)
		}
		// Events signed before the rotation still verify with it.
		if !vk.ValidAt(o.ExpiredTS-1, true) || vk.ValidAt(o.ExpiredTS+1, true) {
			t.Errorf("old key validity around expired_ts is wrong: %+v", vk)
		}
		// B's own lookup knows its old key too.
		if vk, ok := b.keys.Lookup(b.name, old.KeyID); !ok || !vk.IsOld() {
			t.Errorf("B: Lookup(own old key) = %+v, %v", vk, ok)
		}
	})
}

// TestRefetchIsRateLimited asks for an unknown key ID again and again: the
// server is asked once per refetch interval.
func TestRefetchIsRateLimited(t *testing.T) {
	ctx := context.Background()
	b := startServer(t, sqliteOnly)
	a := startServer(t, sqliteOnly)
	for range 5 {
		if _, err := a.keys.RequestKey(ctx, b.name, "ed25519:unknown"); !errors.Is(err, serverkeys.ErrUnknownKey) {
			t.Fatalf("RequestKey(unknown key) = %v, want ErrUnknownKey", err)
		}
	}
	if n := b.KeyHits(); n != 1 {
		t.Errorf("5 lookups of an unknown key fetched %d times, want 1", n)
	}
	// The known key needs no fetch.
	if _, err := a.keys.RequestKey(ctx, b.name, b.key.KeyID); err != nil || b.KeyHits() != 1 {
		t.Errorf("RequestKey(known key) = %v with %d fetches, want no new fetch", err, b.KeyHits())
	}
	a.clock.Advance(serverkeys.DefaultRefetchInterval + 1)
	a.keys.RequestKey(ctx, b.name, "ed25519:unknown")
	if n := b.KeyHits(); n != 2 {
		t.Errorf("after the interval: %d fetches, want 2", n)
	}
}

// TestLookupForEvents checks the event path's view of a fetched key:
// Ensure fetches it, Lookup then answers without the network, and the
// key's validity (the lesser of valid_until_ts and seven days after the
// fetch) applies to events of room versions that enforce it (v5+) and not
// to older ones.
func TestLookupForEvents(t *testing.T) {
	ctx := context.Background()
	b := startServer(t, sqliteOnly)
	a := startServer(t, sqliteOnly)
	if _, ok := a.keys.Lookup(b.name, b.key.KeyID); ok {
		t.Fatalf("Lookup before any fetch found B's key")
	}
	now := a.clock.Now().UnixMilli()
	if err := a.keys.Ensure(ctx, b.name, []signing.KeyID{b.key.KeyID}, now); err != nil {
		t.Fatalf("Ensure = %v", err)
	}
	b.srv.Close()
	vk, ok := a.keys.Lookup(b.name, b.key.KeyID)
	if !ok {
		t.Fatalf("Lookup after Ensure found nothing")
	}
	// B's response is valid for DefaultOwnValidity (a day), less than
	// seven days: that is the key's validity.
	if vk.ValidUntilTS < now+serverkeys.DefaultOwnValidity.Milliseconds()-60_000 || vk.ValidUntilTS > now+serverkeys.DefaultOwnValidity.Milliseconds()+60_000 {
		t.Errorf("ValidUntilTS = %d, want about %d", vk.ValidUntilTS, now+serverkeys.DefaultOwnValidity.Milliseconds())
	}
	obj, err := signing.SignJSON([]byte(`{"type":"m.room.message"}`), b.key)
	if err != nil {
		t.Fatal(err)
	}
	late := vk.ValidUntilTS + 1
	if err := signing.CheckSignatures(obj, b.name, now, true, a.keys.Lookup); err != nil {
		t.Errorf("event within validity, v5+: %v", err)
	}
	if err := signing.CheckSignatures(obj, b.name, late, true, a.keys.Lookup); !errors.Is(err, signing.ErrNoVerifyKey) {
		t.Errorf("event after validity, v5+: %v, want ErrNoVerifyKey", err)
	}
	if err := signing.CheckSignatures(obj, b.name, late, false, a.keys.Lookup); err != nil {
		t.Errorf("event after validity, v1-v4: %v", err)
	}
	// Known and valid: Ensure does not fetch (B is gone, so a fetch would
	// fail).
	if err := a.keys.Ensure(ctx, b.name, []signing.KeyID{b.key.KeyID}, now); err != nil {
		t.Errorf("Ensure(known key) = %v", err)
	}
}

// TestNotaryRefreshesAtHalfLife checks that a notary answers from its
// cache during the first half of a response's lifetime and fetches it
// again after.
func TestNotaryRefreshesAtHalfLife(t *testing.T) {
	ctx := context.Background()
	c := startServer(t, sqliteOnly)
	b := startServer(t, sqliteOnly)
	query := func() {
		t.Helper()
		var resp struct {
			ServerKeys []json.RawMessage `json:"server_keys"`
		}
		req := federation.Request{Destination: b.name, Method: http.MethodGet, Path: "/_matrix/key/v2/query/" + string(c.name), Unsigned: true}
		if err := b.client.DoJSON(ctx, req, &resp); err != nil || len(resp.ServerKeys) != 1 {
			t.Fatalf("query = %d responses, %v", len(resp.ServerKeys), err)
		}
	}
	query()
	query()
	if n := c.KeyHits(); n != 1 {
		t.Errorf("two queries within the lifetime fetched %d times, want 1", n)
	}
	b.clock.Advance(serverkeys.DefaultOwnValidity/2 + time.Minute)
	query()
	if n := c.KeyHits(); n != 2 {
		t.Errorf("a query after half the lifetime: %d fetches, want 2", n)
	}
}

// TestEnsureForPDUs prepares the cache for PDUs signed by two servers.
func TestEnsureForPDUs(t *testing.T) {
	ctx := context.Background()
	b := startServer(t, sqliteOnly)
	c := startServer(t, sqliteOnly)
	a := startServer(t, sqliteOnly)
	now := time.Now().UnixMilli()
	pdu := func(k signing.Key) json.RawMessage {
		raw, _ := json.Marshal(map[string]any{"type": "m.room.message", "origin_server_ts": now})
		signed, err := signing.SignJSON(raw, k)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	both, err := signing.SignJSON(pdu(b.key), c.key)
	if err != nil {
		t.Fatal(err)
	}
	a.keys.EnsureForPDUs(ctx, []json.RawMessage{pdu(b.key), both, json.RawMessage(`not json`)})
	b.srv.Close()
	c.srv.Close()
	for _, s := range []*testServer{b, c} {
		if err := signing.CheckSignatures(both, s.name, now, true, a.keys.Lookup); err != nil {
			t.Errorf("signature of %s after EnsureForPDUs: %v", s.name, err)
		}
	}
}
