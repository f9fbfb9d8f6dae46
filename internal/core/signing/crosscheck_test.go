package signing

import (
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
)

// TestCrossCheckGomatrixserverlib signs with Hafen and verifies with
// gomatrixserverlib (Dendrite's library), and the other way round.
//
// Object keys with escapes are left out: gomatrixserverlib's CanonicalJSON
// unescapes `{"\n":1}` to a raw line feed inside the key, which is not JSON
// (its SignJSON then fails with "gjson validation failed").
func TestCrossCheckGomatrixserverlib(t *testing.T) {
	k := vectorKey(t)
	objs := []string{
		`{}`,
		`{"one":1,"two":"Two"}`,
		`{"content":{"body":"<b>é日😀\u2028</b>","n":-9007199254740991},"unsigned":{"age":1},"type":"m.room.message","z":[null,true,{"k":"\u0001\"\\"}]}`,
	}
	for _, obj := range objs {
		ours, err := SignJSON([]byte(obj), k)
		if err != nil {
			t.Fatalf("SignJSON(%s) = %v", obj, err)
		}
		if err := gomatrixserverlib.VerifyJSON("domain", "ed25519:1", k.Public(), ours); err != nil {
			t.Errorf("gomatrixserverlib.VerifyJSON(Hafen's %s) = %v", ours, err)
		}
		theirs, err := gomatrixserverlib.SignJSON("domain", "ed25519:1", k.Private, []byte(obj))
		if err != nil {
			t.Fatalf("gomatrixserverlib.SignJSON(%s) = %v", obj, err)
		}
		if err := VerifyJSON(theirs, "domain", "ed25519:1", k.Public()); err != nil {
			t.Errorf("VerifyJSON(gomatrixserverlib's %s) = %v", theirs, err)
		}
	}
}
