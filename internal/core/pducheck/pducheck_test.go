package pducheck

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

type fixture struct {
	t    *testing.T
	v    *roomversion.Version
	key  signing.Key
	byID map[id.EventID]*event.PDU
}

// signed returns m as a signed PDU: content hash, then a signature of the
// redacted event.
func (f *fixture) signed(m map[string]any) []byte {
	m["signatures"] = map[string]any{}
	m["hashes"] = map[string]any{"sha256": ""}
	raw, _ := json.Marshal(m)
	h, err := event.ContentHash(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	m["hashes"] = map[string]any{"sha256": base64.RawStdEncoding.EncodeToString(h)}
	raw, _ = json.Marshal(m)
	red, err := event.Redact(raw, f.v)
	if err != nil {
		f.t.Fatal(err)
	}
	sred, err := signing.SignJSON(red, f.key)
	if err != nil {
		f.t.Fatal(err)
	}
	var sm struct {
		Signatures json.RawMessage `json:"signatures"`
	}
	_ = json.Unmarshal(sred, &sm)
	m["signatures"] = sm.Signatures
	raw, _ = json.Marshal(m)
	return raw
}

func (f *fixture) keys(server id.ServerName, kid signing.KeyID) (signing.VerifyKey, bool) {
	if server != f.key.ServerName || kid != f.key.KeyID {
		return signing.VerifyKey{}, false
	}
	return signing.VerifyKey{Public: f.key.Private.Public().(ed25519.PublicKey), ValidUntilTS: 1 << 50}, true
}

func (f *fixture) lookup(eid id.EventID) (*event.PDU, bool) {
	e, ok := f.byID[eid]
	return e, ok
}

func TestCheckIncoming(t *testing.T) {
	v := roomversion.V12
	key, err := signing.KeyFromSeed("a.example", "ed25519:1", make([]byte, ed25519.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, v: v, key: key, byID: map[id.EventID]*event.PDU{}}
	base := func(typ, sk, sender, content string, prev, auth []string, room string) map[string]any {
		m := map[string]any{"type": typ, "state_key": sk, "sender": sender, "content": json.RawMessage(content),
			"depth": 1, "origin_server_ts": 1700000000000, "prev_events": prev, "auth_events": auth}
		if room != "" {
			m["room_id"] = room
		}
		return m
	}
	createRaw := f.signed(base("m.room.create", "", "@alice:a.example", `{"room_version":"12"}`, []string{}, []string{}, ""))
	res, err := CheckIncoming(createRaw, v, f.keys, f.lookup)
	if err != nil || res.Verdict != Accept || res.Redacted {
		t.Fatalf("CheckIncoming(create) = %v, %v; want accept", res.Verdict, err)
	}
	create := res.Event
	f.byID[create.EventID()] = create
	room := string(create.RoomID())

	join := base("m.room.member", "@alice:a.example", "@alice:a.example", `{"membership":"join"}`,
		[]string{string(create.EventID())}, []string{}, room)
	res, err = CheckIncoming(f.signed(join), v, f.keys, f.lookup)
	if err != nil || res.Verdict != Accept {
		t.Fatalf("check 4 v12: creator's join = %v, %v; want accept", res.Verdict, err)
	}
	f.byID[res.Event.EventID()] = res.Event
	aliceJoin := res.Event

	t.Run("check 3: content hash mismatch gives the redacted event", func(t *testing.T) {
		m := base("m.room.message", "", "@alice:a.example", `{"body":"hi"}`,
			[]string{string(aliceJoin.EventID())}, []string{string(aliceJoin.EventID())}, room)
		delete(m, "state_key")
		raw := f.signed(m)
		// Change the content after signing: the signature covers only the
		// redacted event, which has no message content, so it still holds.
		_ = json.Unmarshal(raw, &m)
		m["content"] = map[string]any{"body": "changed"}
		raw, _ = json.Marshal(m)
		res, err := CheckIncoming(raw, v, f.keys, f.lookup)
		if err != nil || res.Verdict != Accept || !res.Redacted {
			t.Fatalf("CheckIncoming = %v redacted=%v, %v; want accept redacted", res.Verdict, res.Redacted, err)
		}
		if string(res.Event.Content()) != "{}" {
			t.Errorf("redacted content = %s, want {}", res.Event.Content())
		}
	})
	t.Run("check 2: bad signature is dropped", func(t *testing.T) {
		other, _ := signing.KeyFromSeed("a.example", "ed25519:1", append(make([]byte, ed25519.SeedSize-1), 1))
		g := *f
		g.key = other
		raw := g.signed(base("m.room.name", "", "@alice:a.example", `{"name":"x"}`,
			[]string{string(aliceJoin.EventID())}, []string{string(aliceJoin.EventID())}, room))
		res, err := CheckIncoming(raw, v, f.keys, f.lookup)
		if res.Verdict != Drop || !errors.Is(err, ErrSignature) {
			t.Fatalf("CheckIncoming = %v, %v; want drop with ErrSignature", res.Verdict, err)
		}
	})
	t.Run("check 2 v8+: a restricted join whose authoriser is not a user ID is dropped", func(t *testing.T) {
		// Auth rule 4.2 (v8+) needs a signature by the server of the user
		// join_authorised_via_users_server names; "nobody" names none.
		raw := f.signed(base("m.room.member", "@bob:a.example", "@bob:a.example",
			`{"membership":"join","join_authorised_via_users_server":"nobody"}`,
			[]string{string(aliceJoin.EventID())}, []string{string(aliceJoin.EventID())}, room))
		res, err := CheckIncoming(raw, v, f.keys, f.lookup)
		if res.Verdict != Drop || !errors.Is(err, ErrSignature) {
			t.Fatalf("CheckIncoming = %v, %v; want drop with ErrSignature", res.Verdict, err)
		}
	})
	t.Run("check 2: a third-party invite needs no signature by the sender's server", func(t *testing.T) {
		// Server-server API, "Validating hashes and signatures on received
		// events": the server which actually sends a 3rd party invite may
		// be a different server.
		other, err := signing.KeyFromSeed("b.example", "ed25519:1", append(make([]byte, ed25519.SeedSize-1), 2))
		if err != nil {
			t.Fatal(err)
		}
		g := *f
		g.key = other
		keys := func(server id.ServerName, kid signing.KeyID) (signing.VerifyKey, bool) {
			if k, ok := f.keys(server, kid); ok {
				return k, ok
			}
			return g.keys(server, kid)
		}
		raw := g.signed(base("m.room.member", "@v:c.example", "@alice:a.example",
			`{"membership":"invite","third_party_invite":{"display_name":"v","signed":{"mxid":"@v:c.example","token":"t","signatures":{}}}}`,
			[]string{string(aliceJoin.EventID())}, []string{string(aliceJoin.EventID())}, room))
		res, err := CheckIncoming(raw, v, keys, f.lookup)
		if res.Verdict == Drop || errors.Is(err, ErrSignature) {
			t.Fatalf("CheckIncoming = %v, %v; want past the signature check", res.Verdict, err)
		}
		// With only the sender's server's key known, no signature verifies.
		res, err = CheckIncoming(raw, v, f.keys, f.lookup)
		if res.Verdict != Drop || !errors.Is(err, ErrSignature) {
			t.Fatalf("CheckIncoming without the signer's key = %v, %v; want drop with ErrSignature", res.Verdict, err)
		}
	})
	t.Run("check 1: invalid format is dropped", func(t *testing.T) {
		res, err := CheckIncoming([]byte(`{"type":1}`), v, f.keys, f.lookup)
		if res.Verdict != Drop || !errors.Is(err, ErrFormat) {
			t.Fatalf("CheckIncoming = %v, %v; want drop with ErrFormat", res.Verdict, err)
		}
	})
	t.Run("check 4 auth 6 v12: message of a non-member is rejected", func(t *testing.T) {
		raw := f.signed(base("m.room.topic", "", "@bob:a.example", `{"topic":"x"}`,
			[]string{string(aliceJoin.EventID())}, []string{}, room))
		res, err := CheckIncoming(raw, v, f.keys, f.lookup)
		var na *authrules.NotAllowedError
		if res.Verdict != Reject || !errors.As(err, &na) || na.Rule != "6" {
			t.Fatalf("CheckIncoming = %v, %v; want reject by rule 6", res.Verdict, err)
		}
	})
	t.Run("check 4 auth 3.3 v12: unknown auth event is rejected", func(t *testing.T) {
		raw := f.signed(base("m.room.topic", "", "@alice:a.example", `{"topic":"x"}`,
			[]string{string(aliceJoin.EventID())}, []string{"$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, room))
		res, err := CheckIncoming(raw, v, f.keys, f.lookup)
		if res.Verdict != Reject || !errors.Is(err, ErrAuthEventUnavailable) {
			t.Fatalf("CheckIncoming = %v, %v; want reject with ErrAuthEventUnavailable", res.Verdict, err)
		}
	})
	t.Run("checks 5 and 6: current state decides soft failure", func(t *testing.T) {
		raw := f.signed(base("m.room.topic", "", "@alice:a.example", `{"topic":"x"}`,
			[]string{string(aliceJoin.EventID())}, []string{string(aliceJoin.EventID())}, room))
		res, err := CheckIncoming(raw, v, f.keys, f.lookup)
		if err != nil {
			t.Fatal(err)
		}
		before := authrules.StateMap{{Type: "m.room.create"}: create, {Type: "m.room.member", StateKey: "@alice:a.example"}: aliceJoin}
		if vd, err := CheckStateBefore(res.Event, before); vd != Accept {
			t.Fatalf("CheckStateBefore = %v, %v; want accept", vd, err)
		}
		current := authrules.StateMap{{Type: "m.room.create"}: create}
		if vd, _ := CheckCurrentState(res.Event, current); vd != SoftFail {
			t.Fatalf("CheckCurrentState = %v, want soft-fail", vd)
		}
	})
}
