package event

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// FuzzParse feeds arbitrary bytes to Parse, ParseTrusted and Redact under
// several room versions. None may panic; an accepted event must
// re-serialize and re-parse to the same ID and bytes.
func FuzzParse(f *testing.F) {
	versions := roomversion.All()
	for i, v := range versions {
		b, err := json.Marshal(validPDU(v))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
	}
	if data, err := os.ReadFile(mautrixRoom); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if line != "" {
				f.Add([]byte(line), uint8(11))
			}
		}
	}
	f.Add([]byte(`{"type":"m.room.member","content":{"membership":"join","third_party_invite":{"signed":{}}}}`), uint8(10))
	f.Fuzz(func(t *testing.T, data []byte, vi uint8) {
		v := versions[int(vi)%len(versions)]
		_, _ = ParseTrusted(data, v, "$fuzz")
		_, _ = Redact(data, v)
		_, _ = ContentHash(data)
		e, err := Parse(data, v)
		if err != nil {
			return
		}
		again, err := Parse(e.JSON(), v)
		if err != nil {
			t.Fatalf("re-parse of accepted event: %v\n%s", err, e.JSON())
		}
		if again.EventID() != e.EventID() || !bytes.Equal(again.JSON(), e.JSON()) {
			t.Fatalf("re-parse: ID %s, want %s", again.EventID(), e.EventID())
		}
		if got, err := ComputeEventID(e.JSON(), v); err != nil || got != e.EventID() {
			t.Fatalf("ComputeEventID = %s, %v, want %s", got, err, e.EventID())
		}
		r, err := Redact(e.JSON(), v)
		if err != nil {
			t.Fatalf("Redact(accepted) = %v", err)
		}
		if rp, err := Parse(r, v); err == nil && rp.EventID() != e.EventID() {
			t.Fatalf("redacted copy has ID %s, want %s", rp.EventID(), e.EventID())
		}
	})
}
