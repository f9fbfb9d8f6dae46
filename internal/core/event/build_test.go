package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

const testTS = 1700000000000

func testKey(t testing.TB, server id.ServerName) signing.Key {
	t.Helper()
	seed := sha256.Sum256([]byte(server))
	k, err := signing.KeyFromSeed(server, "ed25519:1", seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// lookupFor returns a KeyLookup that knows the given keys, valid until
// validUntil.
func lookupFor(validUntil int64, keys ...signing.Key) signing.KeyLookup {
	return func(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
		for _, k := range keys {
			if k.ServerName == server && k.KeyID == keyID {
				return signing.VerifyKey{Public: k.Public(), ValidUntilTS: validUntil}, true
			}
		}
		return signing.VerifyKey{}, false
	}
}

// seqRand is a deterministic io.Reader for NewLegacyEventID.
type seqRand struct{ n byte }

func (r *seqRand) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

// roomBuilder builds a small room with Build.
type roomBuilder struct {
	t    *testing.T
	v    *roomversion.Version
	key  signing.Key
	rnd  *seqRand
	room id.RoomID
	pdus map[id.EventID]*PDU
}

func (b *roomBuilder) build(p Proto) *PDU {
	b.t.Helper()
	if b.v.EventIDInEvent {
		eid, err := NewLegacyEventID(b.rnd, b.key.ServerName)
		if err != nil {
			b.t.Fatal(err)
		}
		p.EventID = eid
		p.RefHashes = map[id.EventID][]byte{}
		for _, ref := range append(append([]id.EventID{}, p.PrevEvents...), p.AuthEvents...) {
			h, err := ReferenceHash(b.pdus[ref].JSON(), b.v)
			if err != nil {
				b.t.Fatal(err)
			}
			p.RefHashes[ref] = h
		}
	}
	e, err := Build(p, b.v, b.key)
	if err != nil {
		b.t.Fatalf("Build(%s) = %v", p.Type, err)
	}
	b.pdus[e.EventID()] = e
	return e
}

func strPtr(s string) *string { return &s }

func TestBuildRoundTripAllVersions(t *testing.T) {
	for _, v := range roomversion.All() {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			key := testKey(t, "example.org")
			b := &roomBuilder{t: t, v: v, key: key, rnd: &seqRand{}, pdus: map[id.EventID]*PDU{}}
			alice := id.UserID("@alice:example.org")
			createContent := fmt.Sprintf(`{"room_version":%q,"creator":%q}`, v.ID, alice)
			var room id.RoomID
			if !v.RoomIDFromCreateEvent {
				room = "!room:example.org"
			}
			create := b.build(Proto{Type: "m.room.create", StateKey: strPtr(""), Sender: alice, RoomID: room,
				Content: json.RawMessage(createContent), Depth: 1, OriginServerTS: testTS})
			if v.RoomIDFromCreateEvent {
				// v12: the room ID is the create event ID with "!" for "$".
				room = id.RoomID("!" + string(create.EventID())[1:])
			}
			if create.RoomID() != room {
				t.Fatalf("create RoomID = %s, want %s", create.RoomID(), room)
			}
			createAuth := []id.EventID{create.EventID()}
			if v.RoomIDFromCreateEvent {
				createAuth = nil // v12: the create event is never an auth event
			}
			join := b.build(Proto{Type: "m.room.member", StateKey: strPtr(string(alice)), Sender: alice, RoomID: room,
				Content: json.RawMessage(`{"membership":"join"}`), PrevEvents: []id.EventID{create.EventID()},
				AuthEvents: createAuth, Depth: 2, OriginServerTS: testTS + 1})
			msg := b.build(Proto{Type: "m.room.message", Sender: alice, RoomID: room,
				Content:    json.RawMessage(`{"msgtype":"m.text","body":"hello"}`),
				PrevEvents: []id.EventID{join.EventID()}, AuthEvents: append(createAuth, join.EventID()),
				Depth: 3, OriginServerTS: testTS + 2, Unsigned: json.RawMessage(`{"transaction_id":"t1"}`)})
			red := b.build(Proto{Type: "m.room.redaction", Sender: alice, RoomID: room,
				Content:    json.RawMessage(`{"reason":"oops"}`),
				PrevEvents: []id.EventID{msg.EventID()}, AuthEvents: append(createAuth, join.EventID()),
				Depth: 4, OriginServerTS: testTS + 3, Redacts: msg.EventID()})
			if red.Redacts() != msg.EventID() {
				t.Errorf("redaction Redacts = %s, want %s", red.Redacts(), msg.EventID())
			}

			lookup := lookupFor(testTS+1000, key)
			for _, e := range []*PDU{create, join, msg, red} {
				p, err := Parse(e.JSON(), v)
				if err != nil {
					t.Fatalf("Parse(Build(%s)) = %v", e.Type(), err)
				}
				if p.EventID() != e.EventID() || p.RoomID() != room || !bytes.Equal(p.JSON(), e.JSON()) {
					t.Errorf("%s: reparsed ID %s room %s, want %s %s", e.Type(), p.EventID(), p.RoomID(), e.EventID(), room)
				}
				if err := VerifySignatures(p, lookup); err != nil {
					t.Errorf("%s: VerifySignatures = %v", e.Type(), err)
				}
				if err := CheckContentHash(p.JSON()); err != nil {
					t.Errorf("%s: CheckContentHash = %v", e.Type(), err)
				}
				if !v.EventIDInEvent {
					if got, err := ComputeEventID(p.JSON(), v); err != nil || got != e.EventID() {
						t.Errorf("%s: ComputeEventID = %s, %v, want %s", e.Type(), got, err, e.EventID())
					}
				}
			}

			// The redacted copy of a signed event still verifies, and keeps
			// its ID, but fails the content hash.
			redacted, err := Redact(msg.JSON(), v)
			if err != nil {
				t.Fatal(err)
			}
			rp, err := Parse(redacted, v)
			if err != nil {
				t.Fatalf("Parse(redacted) = %v", err)
			}
			if rp.EventID() != msg.EventID() {
				t.Errorf("redacted event ID = %s, want %s", rp.EventID(), msg.EventID())
			}
			if err := VerifySignatures(rp, lookup); err != nil {
				t.Errorf("VerifySignatures(redacted) = %v", err)
			}
			if err := CheckContentHash(redacted); !errors.Is(err, ErrHashMismatch) {
				t.Errorf("CheckContentHash(redacted) = %v, want ErrHashMismatch", err)
			}

			// A changed essential field breaks the signature.
			var o map[string]any
			if err := json.Unmarshal(msg.JSON(), &o); err != nil {
				t.Fatal(err)
			}
			o["origin_server_ts"] = testTS + 99
			forged, err := Parse(marshal(t, o), v)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifySignatures(forged, lookup); !errors.Is(err, signing.ErrBadSignature) {
				t.Errorf("VerifySignatures(forged) = %v, want ErrBadSignature", err)
			}

			// Rooms v1, v2: references carry the referenced event's
			// reference hash.
			if v.EventIDInEvent {
				var j struct {
					PrevEvents [][2]json.RawMessage `json:"prev_events"`
				}
				if err := json.Unmarshal(join.JSON(), &j); err != nil {
					t.Fatal(err)
				}
				want, _ := ReferenceHash(create.JSON(), v)
				wantPair := fmt.Sprintf(`{"sha256":%q}`, signing.EncodeBase64(want))
				if len(j.PrevEvents) != 1 || string(j.PrevEvents[0][1]) != wantPair {
					t.Errorf("prev_events = %v, want the pair with %s", j.PrevEvents, wantPair)
				}
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	key := testKey(t, "example.org")
	base := Proto{Type: "m.room.message", Sender: "@a:example.org", RoomID: "!r:example.org", Depth: 1, OriginServerTS: testTS}
	hash := id.EventID(refID(roomversion.V10, "x"))
	tests := []struct {
		name string
		v    *roomversion.Version
		edit func(p *Proto)
	}{
		{"no room version", nil, func(p *Proto) {}},
		{"no room ID", roomversion.V10, func(p *Proto) { p.RoomID = "" }},
		{"v12 create with a room ID", roomversion.V12, func(p *Proto) { p.Type = "m.room.create"; p.StateKey = strPtr("") }},
		{"v1 without an event ID", roomversion.V1, func(p *Proto) {}},
		{"v3+ with an event ID", roomversion.V10, func(p *Proto) { p.EventID = "$x:example.org" }},
		{"v1 without reference hashes", roomversion.V1, func(p *Proto) { p.EventID = "$x:example.org"; p.PrevEvents = []id.EventID{"$p:example.org"} }},
		{"content not an object", roomversion.V10, func(p *Proto) { p.Content = json.RawMessage(`[]`) }},
		{"content not JSON", roomversion.V10, func(p *Proto) { p.Content = json.RawMessage(`{`) }},
		{"unsigned not an object", roomversion.V10, func(p *Proto) { p.Unsigned = json.RawMessage(`1`) }},
		{"v11 content.redacts differs from Redacts", roomversion.V11, func(p *Proto) {
			p.Type = "m.room.redaction"
			p.Redacts = hash
			p.Content = json.RawMessage(`{"redacts":"$other"}`)
		}},
		{"invalid sender", roomversion.V10, func(p *Proto) { p.Sender = "nobody" }},
		{"too many prev events", roomversion.V10, func(p *Proto) {
			for i := 0; i <= MaxPrevEvents; i++ {
				p.PrevEvents = append(p.PrevEvents, id.EventID(refID(roomversion.V10, fmt.Sprint(i))))
			}
		}},
		{"float content in v6+", roomversion.V10, func(p *Proto) { p.Content = json.RawMessage(`{"n":1.5}`) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.edit(&p)
			if e, err := Build(p, tc.v, key); err == nil {
				t.Errorf("Build = %s, want error", e.JSON())
			}
		})
	}
	if _, err := Build(base, roomversion.V10, signing.Key{}); err == nil {
		t.Errorf("Build with an empty key = nil error")
	}
}

func TestNewLegacyEventID(t *testing.T) {
	eid, err := NewLegacyEventID(&seqRand{}, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkEventIDForm(string(eid), roomversion.V1); err != nil || eid.Domain() != "example.org" || len(eid) != 1+18+1+len("example.org") {
		t.Errorf("NewLegacyEventID = %s, %v", eid, err)
	}
	if _, err := NewLegacyEventID(bytes.NewReader(nil), "example.org"); err == nil {
		t.Errorf("NewLegacyEventID with no randomness = nil error")
	}
	if _, err := NewLegacyEventID(&seqRand{}, "bad server"); err == nil {
		t.Errorf("NewLegacyEventID(bad server) = nil error")
	}
}
