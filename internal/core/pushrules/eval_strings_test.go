package pushrules

import (
	"encoding/json"
	"testing"
)

// TestJSONStringFastPathAgrees checks that strings decoded without
// encoding/json (no escapes, valid UTF-8) read as encoding/json reads
// them, and that the rest still go through it.
func TestJSONStringFastPathAgrees(t *testing.T) {
	for _, raw := range []string{
		`"hello"`, `""`, `"caf\u00e9"`, `"café"`, `"a\"b"`, `"tab\there"`, "\"\xff\xfe\"", `"line\nbreak"`,
		`"`, `"unterminated`, `x"`, `"a"b"`, "\"ctl\x01\"", `  "spaced"  `, `"😀 \ud83d\ude00"`,
	} {
		got, ok := jsonString(json.RawMessage(raw))
		var want string
		wantOK := json.Unmarshal([]byte(raw), &want) == nil
		if ok != wantOK || got != want {
			t.Errorf("jsonString(%q) = %q, %v; encoding/json reads %q, %v", raw, got, ok, want, wantOK)
		}
	}
}
