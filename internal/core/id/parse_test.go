package id

import (
	"errors"
	"strings"
	"testing"
)

// hash43 is a valid URL-safe (and standard) unpadded base64 SHA-256.
const hash43 = "ThisIsAFakeHashOf32BytesThatIsBase64Encode0"

func TestParseUserID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"user ID: current grammar", "@alice:example.org", true},
		{"user ID: all allowed punctuation", "@a.b_c=d-e/f+g:example.org", true},
		{"user ID: server with port", "@alice:example.org:8448", true},
		{"user ID: IPv6 server", "@alice:[::1]:8448", true},
		{"historical user ID: upper case", "@Alice:example.org", true},
		{"historical user ID: punctuation", "@a!b#c$%&'()*,;<>?[]^`{|}~:example.org", true},
		{"historical user ID: any code point except : and NUL", "@émile\u200b\x01:example.org", true},
		{"historical user ID: empty localpart", "@:example.org", true},
		{"user ID: 255 bytes", "@" + strings.Repeat("a", 255-len("@:example.org")) + ":example.org", true},
		{"user ID: 256 bytes", "@" + strings.Repeat("a", 256-len("@:example.org")) + ":example.org", false},
		{"user ID: NUL in localpart", "@a\x00b:example.org", false},
		{"user ID: invalid UTF-8", "@a\xffb:example.org", false},
		{"user ID: no server", "@alice", false},
		{"user ID: empty server", "@alice:", false},
		{"user ID: bad server", "@alice:exa_mple.org", false},
		{"user ID: wrong sigil", "#alice:example.org", false},
		{"user ID: no sigil", "alice:example.org", false},
		{"user ID: empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseUserID(tc.in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Errorf("ParseUserID(%q) = %q, %v, want %q", tc.in, got, err, tc.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalidUserID) {
				t.Errorf("ParseUserID(%q) = %q, %v, want ErrInvalidUserID", tc.in, got, err)
			}
		})
	}
}

func TestUserIDCompliant(t *testing.T) {
	tests := []struct {
		in   UserID
		want bool
	}{
		{"@alice:example.org", true},
		{"@Alice!~:example.org", true},
		{"@:example.org", false},
		{"@al ice:example.org", false},
		{"@émile:example.org", false},
		{"@a\x7f:example.org", false},
	}
	for _, tc := range tests {
		if got := tc.in.Compliant(); got != tc.want {
			t.Errorf("UserID(%q).Compliant() = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseCompliantUserID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"@alice:example.org", true},
		{"@Alice!~:example.org:8448", true},
		{"@:example.org", false},
		{"@a b:example.org", false},
		{"@émile:example.org", false},
		{"@alice", false},
		{"alice:example.org", false},
	}
	for _, tc := range tests {
		got, err := ParseCompliantUserID(tc.in)
		if tc.ok && (err != nil || string(got) != tc.in) {
			t.Errorf("ParseCompliantUserID(%q) = %q, %v, want it accepted", tc.in, got, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidUserID) {
			t.Errorf("ParseCompliantUserID(%q) = %q, %v, want ErrInvalidUserID", tc.in, got, err)
		}
	}
}

func TestValidLocalpart(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"alice", true},
		{"a.b_c=d-e/f+g", true},
		{"0123456789", true},
		{"", false},
		{"Alice", false},
		{"al ice", false},
		{"a:b", false},
		{"a*b", false},
		{"émile", false},
		{"a#b", false},
	}
	for _, tc := range tests {
		if got := ValidLocalpart(tc.in); got != tc.want {
			t.Errorf("ValidLocalpart(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNewUserID(t *testing.T) {
	if got, err := NewUserID("alice", "example.org"); err != nil || got != "@alice:example.org" {
		t.Errorf(`NewUserID("alice", "example.org") = %q, %v`, got, err)
	}
	for _, tc := range []struct {
		local  string
		server ServerName
		err    error
	}{
		{"Alice", "example.org", ErrInvalidLocalpart},
		{"", "example.org", ErrInvalidLocalpart},
		{"alice", "bad_server", ErrInvalidServerName},
		{strings.Repeat("a", 250), "example.org", ErrInvalidUserID},
	} {
		if got, err := NewUserID(tc.local, tc.server); !errors.Is(err, tc.err) {
			t.Errorf("NewUserID(%q, %q) = %q, %v, want %v", tc.local, tc.server, got, err, tc.err)
		}
	}
}

func TestParseRoomID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"room ID v1-v11: opaque:domain", "!abcDEF123:example.org", true},
		{"room ID v1-v11: any code point but : and NUL", "!ab\x01é:example.org", true},
		{"room ID v1-v11: server with port", "!abc:example.org:8448", true},
		{"room ID v12: 43 chars URL-safe base64", "!" + hash43, true},
		{"room ID v12: with - and _", "!" + strings.Repeat("-_", 21) + "A", true},
		{"room ID v12: standard base64 + is not URL-safe", "!" + strings.Repeat("+", 42) + "A", false},
		{"room ID v12: 42 chars", "!" + hash43[:42], false},
		{"room ID v12: 44 chars", "!" + hash43 + "A", false},
		{"room ID v12: non-canonical last char", "!" + hash43[:42] + "1", false},
		{"room ID: no server and not a hash", "!abc", false},
		{"room ID: bad server", "!abc:bad_server", false},
		{"room ID: NUL", "!a\x00:example.org", false},
		{"room ID: 256 bytes", "!" + strings.Repeat("a", 255-len(":example.org")) + ":example.org", false},
		{"room ID: wrong sigil", "$abc:example.org", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRoomID(tc.in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Errorf("ParseRoomID(%q) = %q, %v, want %q", tc.in, got, err, tc.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRoomID) {
				t.Errorf("ParseRoomID(%q) = %q, %v, want ErrInvalidRoomID", tc.in, got, err)
			}
		})
	}
}

func TestParseEventID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"event ID v1/v2: opaque:domain", "$1234abcd:example.org", true},
		{"event ID v3: standard base64 hash", "$" + strings.Repeat("+/", 21) + "A", true},
		{"event ID v4+: URL-safe base64 hash", "$" + strings.Repeat("-_", 21) + "A", true},
		{"event ID: hash", "$" + hash43, true},
		{"event ID: mixed alphabets", "$" + strings.Repeat("+_", 21) + "A", false},
		{"event ID: padded hash", "$" + hash43 + "=", false},
		{"event ID: short hash", "$" + hash43[:40], false},
		{"event ID: no server, not a hash", "$abc", false},
		{"event ID: bad server", "$abc:bad server", false},
		{"event ID: wrong sigil", "!" + hash43, false},
		{"event ID: 256 bytes", "$" + strings.Repeat("a", 255-len(":example.org")) + ":example.org", false},
		{"event ID: 255 bytes", "$" + strings.Repeat("a", 254-len(":example.org")) + ":example.org", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEventID(tc.in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Errorf("ParseEventID(%q) = %q, %v, want %q", tc.in, got, err, tc.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEventID) {
				t.Errorf("ParseEventID(%q) = %q, %v, want ErrInvalidEventID", tc.in, got, err)
			}
		})
	}
}

func TestParseRoomAlias(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"room alias: simple", "#room:example.org", true},
		{"room alias: any code point but : and NUL", "#Rüm \x01!:example.org", true},
		{"room alias: no server", "#room", false},
		{"room alias: empty server", "#room:", false},
		{"room alias: NUL", "#ro\x00om:example.org", false},
		{"room alias: bad server", "#room:ex ample.org", false},
		{"room alias: wrong sigil", "@room:example.org", false},
		{"room alias: 256 bytes", "#" + strings.Repeat("a", 255-len(":example.org")) + ":example.org", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRoomAlias(tc.in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Errorf("ParseRoomAlias(%q) = %q, %v, want %q", tc.in, got, err, tc.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRoomAlias) {
				t.Errorf("ParseRoomAlias(%q) = %q, %v, want ErrInvalidRoomAlias", tc.in, got, err)
			}
		})
	}
}

func TestParseDeviceID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"ABCDEFGHIJ", true},
		{"device with spaces/é", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
		{"", false},
		{"a\x00", false},
		{"\xff", false},
	} {
		got, err := ParseDeviceID(tc.in)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidDeviceID)) || (err == nil && string(got) != tc.in) {
			t.Errorf("ParseDeviceID(%.40q) = %.40q, %v, want ok=%v", tc.in, got, err, tc.ok)
		}
	}
}

func FuzzParseUserID(f *testing.F) {
	for _, s := range []string{"@alice:example.org", "@:a", "@a:[::1]:80", "@é\x01:1.2.3.4", "@a", "@a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUserID(s)
		if err != nil {
			return
		}
		again, err := ParseUserID(string(u))
		if err != nil || again != u || string(u) != s {
			t.Fatalf("ParseUserID(%q) = %q, re-parse = %q, %v", s, u, again, err)
		}
		if _, err := ParseServerName(string(u.Domain())); err != nil {
			t.Fatalf("user ID %q accepted with invalid domain %q: %v", u, u.Domain(), err)
		}
		if "@"+u.Localpart()+":"+string(u.Domain()) != s {
			t.Fatalf("user ID %q does not split into localpart %q and domain %q", u, u.Localpart(), u.Domain())
		}
		if ValidLocalpart(u.Localpart()) {
			if n, err := NewUserID(u.Localpart(), u.Domain()); err != nil || n != u {
				t.Fatalf("NewUserID(%q, %q) = %q, %v, want %q", u.Localpart(), u.Domain(), n, err, u)
			}
		}
	})
}
