package id

import (
	"errors"
	"strings"
	"testing"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#server-name
func TestParseServerName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"server name: spec example DNS name", "matrix.org", true},
		{"server name: spec example DNS name with port", "matrix.org:8888", true},
		{"server name: spec example IPv4 literal", "1.2.3.4", true},
		{"server name: spec example IPv4 with port", "1.2.3.4:1234", true},
		{"server name: spec example IPv6 literal", "[1234:5678::abcd]", true},
		{"server name: spec example IPv6 with port", "[1234:5678::abcd]:5678", true},
		{"server name: single label", "localhost", true},
		{"server name: upper case kept (case-sensitive)", "MATRIX.ORG", true},
		{"server name: hyphen and digits", "my-server1.example.com", true},
		{"server name: numeric TLD-less names are DNS names unless four labels", "1.2.3", true},
		{"server name: dns-name is at most 255 chars", strings.Repeat("a", 255), true},
		{"server name: dns-name over 255 chars", strings.Repeat("a", 256), false},
		{"server name: port 1", "example.org:1", true},
		{"server name: port 65535", "example.org:65535", true},
		{"server name: port 0 out of range", "example.org:0", false},
		{"server name: port 65536 out of range", "example.org:65536", false},
		{"server name: port of 6 digits", "example.org:000080", false},
		{"server name: port with leading zeros (1*5DIGIT)", "example.org:00080", true},
		{"server name: empty port", "example.org:", false},
		{"server name: signed port", "example.org:+80", false},
		{"server name: two ports", "example.org:80:80", false},
		{"server name: empty", "", false},
		{"server name: only port", ":80", false},
		{"server name: underscore not a dns-char", "my_server.org", false},
		{"server name: space", "example .org", false},
		{"server name: non-ASCII", "exämple.org", false},
		{"server name: leading dot", ".example.org", false},
		{"server name: trailing dot", "example.org.", false},
		{"server name: double dot", "example..org", false},
		{"server name: slash", "example.org/path", false},
		{"server name: userinfo", "user@example.org", false},
		{"IPv4: 255 is the largest part", "255.255.255.255", true},
		{"IPv4: 0.0.0.0", "0.0.0.0", true},
		{"IPv4: part over 255", "1.2.3.256", false},
		{"IPv4: part of 4 digits", "1.2.3.0004", false},
		{"IPv4: 999", "999.1.1.1", false},
		{"IPv6: loopback", "[::1]", true},
		{"IPv6: unspecified", "[::]", true},
		{"IPv6: full form", "[2001:0db8:0000:0000:0000:ff00:0042:8329]", true},
		{"IPv6: upper case hex", "[2001:DB8::1]", true},
		{"IPv6: RFC 3513 2.2 form 3, embedded IPv4", "[::ffff:192.0.2.1]", true},
		{"IPv6: RFC 3513 2.2 form 3, full", "[0:0:0:0:0:0:13.1.68.3]", true},
		{"IPv6: with port", "[::1]:8448", true},
		{"IPv6: two double colons", "[1::2::3]", false},
		{"IPv6: too many groups", "[1:2:3:4:5:6:7:8:9]", false},
		{"IPv6: too few groups", "[1:2:3]", false},
		{"IPv6: group of 5 hex digits", "[12345::1]", false},
		{"IPv6: zone not allowed", "[fe80::1%eth0]", false},
		{"IPv6: non-hex letter", "[fe80::g]", false},
		{"IPv6: IPv4 address in brackets", "[1.2.3.4]", false},
		{"IPv6: empty brackets", "[]", false},
		{"IPv6: single character", "[1]", false},
		{"IPv6: unbracketed", "::1", false},
		{"IPv6: unterminated", "[::1", false},
		{"IPv6: junk after bracket", "[::1]x", false},
		{"IPv6: empty port", "[::1]:", false},
		{"IPv6: port out of range", "[::1]:70000", false},
		{"IPv6: literal longer than 45 characters", "[0000:0000:0000:0000:0000:ffff:255.255.255.255a]", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseServerName(tc.in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Errorf("ParseServerName(%q) = %q, %v, want %q", tc.in, got, err, tc.in)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidServerName) {
				t.Errorf("ParseServerName(%q) = %q, %v, want ErrInvalidServerName", tc.in, got, err)
			}
		})
	}
}

func FuzzParseServerName(f *testing.F) {
	for _, s := range []string{"matrix.org", "matrix.org:8888", "1.2.3.4:1234", "[1234:5678::abcd]:5678", "[::ffff:1.2.3.4]", "1.2.3.256", "a..b", "[fe80::1%eth0]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sn, err := ParseServerName(s)
		if err != nil {
			return
		}
		if string(sn) != s {
			t.Fatalf("ParseServerName(%q) = %q", s, sn)
		}
		again, err := ParseServerName(string(sn))
		if err != nil || again != sn {
			t.Fatalf("re-parse of %q = %q, %v", sn, again, err)
		}
		// An accepted name embeds in every ID form.
		if _, err := ParseUserID("@a:" + s); err != nil && len(s) < 250 {
			t.Fatalf("server name %q accepted but user ID rejected: %v", s, err)
		}
	})
}
