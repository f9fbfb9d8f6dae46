package fedjoin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
)

// answering is a Transport that answers every request with fn's result.
type answering func(req federation.Request) ([]byte, error)

func (a answering) Do(_ context.Context, req federation.Request) ([]byte, error) { return a(req) }

// fixedKeys knows the keys it was given and fetches nothing.
type fixedKeys map[id.ServerName]signing.Key

func (fixedKeys) EnsureForPDUs(context.Context, []json.RawMessage) {}

func (k fixedKeys) Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
	key, ok := k[server]
	if !ok || key.KeyID != keyID {
		return signing.VerifyKey{}, false
	}
	return signing.VerifyKey{Public: key.Public(), ValidUntilTS: math.MaxInt64}, true
}

// TestSignInviteChecksTheAnswer: the invitee's server must answer with the
// invite it was sent, carrying its own signature.
func TestSignInviteChecksTheAnswer(t *testing.T) {
	ours, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:a")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := signing.GenerateKey(rand.Reader, "other.test", "ed25519:b")
	if err != nil {
		t.Fatal(err)
	}
	v := roomversion.V10
	build := func(target string) *event.PDU {
		pdu, err := event.Build(event.Proto{
			Type: "m.room.member", StateKey: &target, Sender: "@alice:hafen.test", RoomID: "!room:hafen.test",
			Content: json.RawMessage(`{"membership":"invite"}`), PrevEvents: []id.EventID{id.EventID("$" + strings.Repeat("A", 43))}, AuthEvents: []id.EventID{id.EventID("$" + strings.Repeat("B", 42) + "A")},
			Depth: 5, OriginServerTS: 1700000000000,
		}, v, ours)
		if err != nil {
			t.Fatal(err)
		}
		return pdu
	}
	invite := build("@bob:other.test")
	answer := func(raw []byte) answering {
		return func(req federation.Request) ([]byte, error) {
			if req.Destination != "other.test" || !strings.HasPrefix(req.Path, "/_matrix/federation/v2/invite/") {
				t.Errorf("request to %s %s", req.Destination, req.Path)
			}
			return json.Marshal(map[string]json.RawMessage{"event": raw})
		}
	}
	keys := fixedKeys{"hafen.test": ours, "other.test": theirs}

	countersigned, err := event.Sign(invite.JSON(), v, theirs)
	if err != nil {
		t.Fatal(err)
	}
	i := &Inviter{Client: answer(countersigned), Keys: keys}
	if got, err := i.SignInvite(context.Background(), v, invite, nil); err != nil || !strings.Contains(string(got), "ed25519:b") {
		t.Errorf("countersigned invite: %s, %v", got, err)
	}

	for name, raw := range map[string][]byte{
		"unsigned":      invite.JSON(),
		"another event": mustSign(t, build("@carol:other.test").JSON(), v, theirs),
		"wrong key":     mustSign(t, invite.JSON(), v, ours),
	} {
		i := &Inviter{Client: answer(raw), Keys: keys}
		if _, err := i.SignInvite(context.Background(), v, invite, nil); !errors.Is(err, ErrBadInvite) {
			t.Errorf("%s answer: %v, want ErrBadInvite", name, err)
		}
	}
}

func mustSign(t *testing.T, raw []byte, v *roomversion.Version, key signing.Key) []byte {
	t.Helper()
	out, err := event.Sign(raw, v, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
