package authrules

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

func TestThirdPartyInvite(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 7
	key, err := signing.KeyFromSeed("id.example", "ed25519:0", seed)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := signing.KeyFromSeed("id.example", "ed25519:0", make([]byte, ed25519.SeedSize))
	pub := base64.RawStdEncoding.EncodeToString(key.Private.Public().(ed25519.PublicKey))
	target := "@new:d.example"
	sign := func(k signing.Key, obj string) string {
		out, err := signing.SignJSON([]byte(obj), k)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	signedOK := sign(key, `{"mxid":"`+target+`","token":"tok"}`)
	cases := []struct {
		name    string
		content string
		tpi     string // m.room.third_party_invite content; "" for none
		tpiBy   string
		target  string
		want    string // rule within the invite branch (v8–v11 numbering)
	}{
		{"auth 4.4.1.7 v1-v12: invite signed by the public_key is allowed", `{"membership":"invite","third_party_invite":{"display_name":"x","signed":` + signedOK + `}}`,
			`{"public_key":"` + pub + `"}`, mod, target, "ok"},
		{"auth 4.4.1.7 v1-v12: invite signed by a key in public_keys is allowed", `{"membership":"invite","third_party_invite":{"signed":` + signedOK + `}}`,
			`{"public_key":"AAAA","public_keys":[{"public_key":"` + pub + `"}]}`, mod, target, "ok"},
		{"auth 4.4.1.8 v1-v12: invite signed by another key is rejected", `{"membership":"invite","third_party_invite":{"signed":` + sign(other, `{"mxid":"`+target+`","token":"tok"}`) + `}}`,
			`{"public_key":"` + pub + `"}`, mod, target, "1.8"},
		{"auth 4.4.1.8 v1-v12: invite with a tampered signed block is rejected", `{"membership":"invite","third_party_invite":{"signed":` + tamper(t, signedOK) + `}}`,
			`{"public_key":"` + pub + `"}`, mod, "@other:d.example", "1.8"},
		{"auth 4.4.1.1 v1-v12: third party invite of a banned user is rejected", `{"membership":"invite","third_party_invite":{"signed":` + sign(key, `{"mxid":"`+dan+`","token":"tok"}`) + `}}`,
			`{"public_key":"` + pub + `"}`, mod, dan, "1.1"},
		{"auth 4.4.1.2 v1-v12: third party invite without signed is rejected", `{"membership":"invite","third_party_invite":{}}`,
			`{"public_key":"` + pub + `"}`, mod, target, "1.2"},
		{"auth 4.4.1.3 v1-v12: signed without token is rejected", `{"membership":"invite","third_party_invite":{"signed":{"mxid":"` + target + `"}}}`,
			`{"public_key":"` + pub + `"}`, mod, target, "1.3"},
		{"auth 4.4.1.4 v1-v12: mxid not the state key is rejected", `{"membership":"invite","third_party_invite":{"signed":` + signedOK + `}}`,
			`{"public_key":"` + pub + `"}`, mod, "@other:d.example", "1.4"},
		{"auth 4.4.1.5 v1-v12: no third party invite for the token is rejected", `{"membership":"invite","third_party_invite":{"signed":` + signedOK + `}}`,
			"", mod, target, "1.5"},
		{"auth 4.4.1.6 v1-v12: sender not the third party invite's sender is rejected", `{"membership":"invite","third_party_invite":{"signed":` + signedOK + `}}`,
			`{"public_key":"` + pub + `"}`, alice, target, "1.6"},
	}
	prefix := map[string]string{"1": "5.3.", "6": "4.3.", "8": "4.4.", "12": "5.4."}
	for _, tc := range cases {
		for _, v := range versionsIn(1, 12) {
			t.Run(tc.name+"/v"+string(v.ID), func(t *testing.T) {
				r := newTestRoom(t, v)
				st := r.standardState("invite")
				if tc.tpi != "" {
					ti := r.ev(TypeThirdPartyInvite, sp("tok"), tc.tpiBy, tc.tpi)
					st[ti.StateKeyTuple()] = ti
				}
				e := r.ev(TypeMember, sp(tc.target), mod, tc.content)
				want := tc.want
				if want != "ok" {
					p := prefix["1"]
					switch {
					case v.PrivilegedCreators:
						p = prefix["12"]
					case v.RestrictedJoins:
						p = prefix["8"]
					case !v.SpecialCaseAliasesAuth:
						p = prefix["6"]
					}
					want = p + want
				}
				if got := ruleOf(t, Check(e, st)); got != want {
					t.Errorf("Check = %s, want %s (%v)", got, want, Check(e, st))
				}
			})
		}
	}
}

// tamper changes mxid in a signed block, keeping the signatures.
func tamper(t *testing.T, signed string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(signed), &m); err != nil {
		t.Fatal(err)
	}
	m["mxid"] = "@other:d.example"
	b, _ := json.Marshal(m)
	return string(b)
}

func TestNeededStateKeys(t *testing.T) {
	mk := func(typ, sk string) event.StateKey { return event.StateKey{Type: typ, StateKey: sk} }
	cases := []struct {
		name    string
		v12     bool
		typ     string
		sk      *string
		content string
		want    []event.StateKey
	}{
		{"selection v1-v11: message needs create, power levels, sender", false, "m.room.message", nil, `{}`,
			[]event.StateKey{mk(TypeCreate, ""), mk(TypePowerLevels, ""), mk(TypeMember, bob)}},
		{"selection v12: message does not select the create event", true, "m.room.message", nil, `{}`,
			[]event.StateKey{mk(TypePowerLevels, ""), mk(TypeMember, bob)}},
		{"selection v12: create event needs nothing", true, TypeCreate, sp(""), `{}`, nil},
		{"selection v12: join needs target, join rules, authorising user", true, TypeMember, sp(eve),
			`{"membership":"join","join_authorised_via_users_server":"` + mod + `"}`,
			[]event.StateKey{mk(TypePowerLevels, ""), mk(TypeMember, bob), mk(TypeMember, eve), mk(TypeJoinRules, ""), mk(TypeMember, mod)}},
		{"selection v12: third party invite needs the token's invite", true, TypeMember, sp(eve),
			`{"membership":"invite","third_party_invite":{"signed":{"token":"tok"}}}`,
			[]event.StateKey{mk(TypePowerLevels, ""), mk(TypeMember, bob), mk(TypeMember, eve), mk(TypeJoinRules, ""), mk(TypeThirdPartyInvite, "tok")}},
		{"selection v12: leave needs no join rules", true, TypeMember, sp(eve), `{"membership":"leave"}`,
			[]event.StateKey{mk(TypePowerLevels, ""), mk(TypeMember, bob), mk(TypeMember, eve)}},
		{"selection v12: own join lists the sender once", true, TypeMember, sp(bob), `{"membership":"join"}`,
			[]event.StateKey{mk(TypePowerLevels, ""), mk(TypeMember, bob), mk(TypeJoinRules, "")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := versionsIn(11, 11)[0]
			if tc.v12 {
				v = versionsIn(12, 12)[0]
			}
			got, err := NeededStateKeys(v, tc.typ, tc.sk, id.UserID(bob), json.RawMessage(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("NeededStateKeys = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("NeededStateKeys = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
