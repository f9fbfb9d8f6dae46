package serveracl

import (
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "evil.com", true},
		{"evil.com", "evil.com", true},
		{"evil.com", "evil.co", false},
		{"*.evil.com", "a.evil.com", true},
		{"*.evil.com", "evil.com", false},
		{"ev?l.com", "evil.com", true},
		{"ev?l.com", "evl.com", false},
		{"?", "ä", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"**", "x", true},
		{"a*", "b", false},
	}
	for _, tc := range cases {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestAllows(t *testing.T) {
	cases := []struct {
		name    string
		content string // "" means no m.room.server_acl event
		server  id.ServerName
		want    bool
	}{
		{"rule 1: no ACL event allows", "", "evil.com", true},
		{"rule 2: IP literal denied when allow_ip_literals is false", `{"allow":["*"],"allow_ip_literals":false}`, "127.0.0.1:8448", false},
		{"rule 2: IPv6 literal denied when allow_ip_literals is false", `{"allow":["*"],"allow_ip_literals":false}`, "[::1]:8448", false},
		{"rule 2: IP literal allowed by default", `{"allow":["*"]}`, "127.0.0.1:8448", true},
		{"rule 2: allow_ip_literals that is not a boolean counts as true", `{"allow":["*"],"allow_ip_literals":"no"}`, "127.0.0.1", true},
		{"rule 3: deny wins over allow", `{"allow":["*"],"deny":["evil.com"]}`, "evil.com", false},
		{"rule 3: port is not considered", `{"allow":["*"],"deny":["evil.com"]}`, "evil.com:1234", false},
		{"rule 3: case-insensitive", `{"allow":["*"],"deny":["EVIL.com"]}`, "evil.COM", false},
		{"rule 3: wildcard subdomains", `{"allow":["*"],"deny":["*.evil.com"]}`, "a.evil.com:8448", false},
		{"rule 4: allow list match", `{"allow":["good.org"]}`, "good.org", true},
		{"rule 5: not in allow list", `{"allow":["good.org"]}`, "other.org", false},
		{"rule 5: no allow list denies every server", `{}`, "good.org", false},
		{"content that is not an object denies", `[]`, "good.org", false},
		{"non-string entries are skipped", `{"allow":[1,"good.org"],"deny":[null]}`, "good.org", true},
		{"allow of the wrong type denies", `{"allow":"*"}`, "good.org", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var acl ACL
			if tc.content != "" {
				acl = Parse([]byte(tc.content))
			}
			if got := acl.Allows(tc.server); got != tc.want {
				t.Errorf("Allows(%s) under %s = %v, want %v", tc.server, tc.content, got, tc.want)
			}
		})
	}
}
