package authrules

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// FuzzCheck feeds random content into the power levels, join rules, create
// and member events of the state and into the event under test; Check must
// decide without panicking.
func FuzzCheck(f *testing.F) {
	f.Add(uint8(0), uint8(0), `{"users":{"@a:b":"50"}}`, `{"membership":"join"}`)
	f.Add(uint8(11), uint8(1), `{"ban":1e400,"events":[]}`, `{"membership":"invite","third_party_invite":{"signed":{"mxid":"x","token":"tok","signatures":{"a":{"ed25519:0":"x"}}}}}`)
	f.Add(uint8(9), uint8(2), `{"join_rule":"restricted","allow":[]}`, `{"membership":"join","join_authorised_via_users_server":5}`)
	f.Add(uint8(4), uint8(3), `{"users":{"\u0040x:y":" +1 "},"notifications":{"room":"-0"}}`, `{"users":null}`)
	f.Add(uint8(12), uint8(4), `{"additional_creators":[1,"@a:b"]}`, `{"membership":"leave"}`)
	vs := roomversion.All()
	f.Fuzz(func(t *testing.T, vi, slot uint8, stateContent, evContent string) {
		if !json.Valid([]byte(stateContent)) || !json.Valid([]byte(evContent)) {
			return
		}
		v := vs[int(vi)%len(vs)]
		r := newTestRoom(t, v)
		st := r.standardState("public")
		raw := func(s string) string { return s }
		var replaced *event.PDU
		switch slot % 5 {
		case 0:
			replaced = tryEv(r, TypePowerLevels, "", alice, raw(stateContent))
		case 1:
			replaced = tryEv(r, TypeJoinRules, "", alice, raw(stateContent))
		case 2:
			replaced = tryEv(r, TypeMember, mod, mod, raw(stateContent))
		case 3:
			replaced = tryEv(r, TypeThirdPartyInvite, "tok", mod, raw(stateContent))
		case 4:
			replaced = tryEv(r, TypeCreate, "", alice, raw(stateContent), withPrev())
		}
		if replaced != nil {
			st[replaced.StateKeyTuple()] = replaced
		}
		for _, typ := range []string{TypeMember, TypePowerLevels, TypeJoinRules, "m.room.message"} {
			sk := eve
			if typ != TypeMember {
				sk = ""
			}
			e := tryEv(r, typ, sk, mod, evContent)
			if e == nil {
				continue
			}
			_ = Check(e, st)
			_, _ = NeededStateKeys(v, typ, &sk, mod, e.Content())
		}
	})
}

// tryEv is testRoom.ev that returns nil when ParseTrusted refuses the input.
func tryEv(r *testRoom, typ, sk, sender, content string, opts ...evOpt) (out *event.PDU) {
	ft := &fuzzTB{TB: r.t}
	saved := r.t
	r.t = ft
	defer func() {
		r.t = saved
		if rec := recover(); rec != nil {
			if _, ok := rec.(fuzzAbort); !ok {
				panic(rec)
			}
			out = nil
		}
	}()
	return r.ev(typ, sp(sk), sender, content, opts...)
}

type fuzzAbort struct{}

// fuzzTB turns the builder's Fatalf into a recoverable abort.
type fuzzTB struct{ testing.TB }

func (f *fuzzTB) Fatalf(string, ...any) { panic(fuzzAbort{}) }
func (f *fuzzTB) Fatal(...any)          { panic(fuzzAbort{}) }
func (f *fuzzTB) Helper()               {}
