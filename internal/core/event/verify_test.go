package event

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// signedBy builds p in v with the first key, adds signatures of the other
// keys, and parses the result.
func signedBy(t *testing.T, p Proto, v *roomversion.Version, keys ...signing.Key) *PDU {
	t.Helper()
	if v.EventIDInEvent && p.EventID == "" {
		p.EventID = "$ev:" + id.EventID(keys[0].ServerName)
	}
	e, err := Build(p, v, keys[0])
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	raw := e.JSON()
	for _, k := range keys[1:] {
		if raw, err = Sign(raw, v, k); err != nil {
			t.Fatal(err)
		}
	}
	e, err = Parse(raw, v)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	return e
}

// Server-server API, "Validating hashes and signatures on received events".
func TestVerifySignaturesRequiredServers(t *testing.T) {
	a, b, c := testKey(t, "a.example"), testKey(t, "b.example"), testKey(t, "c.example")
	lookup := lookupFor(testTS+1000, a, b, c)
	msg := Proto{Type: "m.room.message", Sender: "@u:a.example", RoomID: "!r:a.example",
		Content: json.RawMessage(`{"body":"x"}`), Depth: 5, OriginServerTS: testTS}
	join := func(via string) Proto {
		p := Proto{Type: "m.room.member", StateKey: strPtr("@u:a.example"), Sender: "@u:a.example", RoomID: "!r:a.example",
			Depth: 5, OriginServerTS: testTS, Content: json.RawMessage(`{"membership":"join","join_authorised_via_users_server":` + via + `}`)}
		return p
	}
	thirdPartyInvite := Proto{Type: "m.room.member", StateKey: strPtr("@v:c.example"), Sender: "@u:a.example", RoomID: "!r:a.example",
		Depth: 5, OriginServerTS: testTS,
		Content: json.RawMessage(`{"membership":"invite","third_party_invite":{"display_name":"v","signed":{"mxid":"@v:c.example","token":"t","signatures":{}}}}`)}
	withEventID := func(p Proto, eid id.EventID) Proto { p.EventID = eid; return p }

	tests := []struct {
		name  string
		v     []*roomversion.Version
		p     Proto
		keys  []signing.Key
		want  error // nil: verifies
		known signing.KeyLookup
	}{
		{"v1+: signed by the sender's server", roomversion.All(), msg, []signing.Key{a}, nil, nil},
		{"v1+: the sender's server must sign", roomversion.All(), msg, []signing.Key{b}, ErrMissingSignature, nil},
		{"v1+: extra signatures from unknown keys are skipped", roomversion.All(), msg, []signing.Key{a, testKey(t, "d.example")}, nil, nil},
		{"v1+: no known key of the sender's server", roomversion.All(), msg, []signing.Key{a}, signing.ErrNoVerifyKey, lookupFor(testTS, b)},
		{"v1-v2: the event ID's server must sign too", []*roomversion.Version{roomversion.V1, roomversion.V2},
			withEventID(msg, "$e:b.example"), []signing.Key{a}, ErrMissingSignature, nil},
		{"v1-v2: signed by the sender's and the event ID's servers", []*roomversion.Version{roomversion.V1, roomversion.V2},
			withEventID(msg, "$e:b.example"), []signing.Key{a, b}, nil, nil},
		{"v8+: a restricted join needs the authorising server's signature", versionsWith(func(v *roomversion.Version) bool { return v.RestrictedJoins }),
			join(`"@x:b.example"`), []signing.Key{a}, ErrMissingSignature, nil},
		{"v8+: a restricted join signed by both servers", versionsWith(func(v *roomversion.Version) bool { return v.RestrictedJoins }),
			join(`"@x:b.example"`), []signing.Key{a, b}, nil, nil},
		{"v8+: a join_authorised_via_users_server that is not a user ID", versionsWith(func(v *roomversion.Version) bool { return v.RestrictedJoins }),
			join(`"nobody"`), []signing.Key{a}, ErrFormat, nil},
		{"v1-v7: join_authorised_via_users_server has no meaning", versionsWith(func(v *roomversion.Version) bool { return !v.RestrictedJoins }),
			join(`"@x:b.example"`), []signing.Key{a}, nil, nil},
		{"v1+: a third-party invite may be sent by another server", roomversion.All(),
			thirdPartyInvite, []signing.Key{c}, nil, nil},
		{"v3+: a third-party invite still needs one valid signature", versionsWith(func(v *roomversion.Version) bool { return !v.EventIDInEvent }),
			thirdPartyInvite, []signing.Key{testKey(t, "d.example")}, ErrMissingSignature, nil},
		{"v1-v2: a third-party invite needs the event ID's server's signature", []*roomversion.Version{roomversion.V1, roomversion.V2},
			thirdPartyInvite, []signing.Key{testKey(t, "d.example")}, signing.ErrNoVerifyKey, nil},
	}
	for _, tc := range tests {
		for _, v := range tc.v {
			t.Run(tc.name+"/v"+string(v.ID), func(t *testing.T) {
				e := signedBy(t, tc.p, v, tc.keys...)
				l := lookup
				if tc.known != nil {
					l = tc.known
				}
				err := VerifySignatures(e, l)
				switch {
				case tc.want == nil && err != nil:
					t.Errorf("VerifySignatures = %v, want nil", err)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("VerifySignatures = %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func versionsWith(f func(*roomversion.Version) bool) []*roomversion.Version {
	var out []*roomversion.Version
	for _, v := range roomversion.All() {
		if f(v) {
			out = append(out, v)
		}
	}
	return out
}

// Rooms v5 "Signing key validity period": from v5 on a key must be valid
// at origin_server_ts; rooms v1–v4 ignore valid_until_ts.
func TestVerifySignaturesKeyValidity(t *testing.T) {
	a := testKey(t, "a.example")
	for _, v := range roomversion.All() {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			p := Proto{Type: "m.room.message", Sender: "@u:a.example", RoomID: "!r:a.example",
				Content: json.RawMessage(`{}`), Depth: 5, OriginServerTS: testTS}
			e := signedBy(t, p, v, a)
			if err := VerifySignatures(e, lookupFor(testTS, a)); err != nil {
				t.Errorf("key valid until origin_server_ts: %v", err)
			}
			err := VerifySignatures(e, lookupFor(testTS-1, a))
			if v.EnforceKeyValidity && !errors.Is(err, signing.ErrNoVerifyKey) {
				t.Errorf("expired key in v%s = %v, want ErrNoVerifyKey", v.ID, err)
			}
			if !v.EnforceKeyValidity && err != nil {
				t.Errorf("expired key in v%s = %v, want nil (validity ignored)", v.ID, err)
			}
		})
	}
}

func TestVerifySignaturesNil(t *testing.T) {
	if err := VerifySignatures(nil, lookupFor(0)); err == nil {
		t.Errorf("VerifySignatures(nil) = nil")
	}
	if err := VerifySignatures(&PDU{}, lookupFor(0)); err == nil {
		t.Errorf("VerifySignatures(empty PDU) = nil")
	}
}
