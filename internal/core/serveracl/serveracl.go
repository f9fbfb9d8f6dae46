// Package serveracl decides whether a server may take part in a room under
// the room's m.room.server_acl event. It is part of the pure protocol
// core: the ACL's content and the server name come in as arguments.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroomserver_acl
// and https://spec.matrix.org/v1.19/server-server-api/#server-access-control-lists-acls
//
//	acl, _ := serveracl.Parse(content) // the m.room.server_acl content
//	if !acl.Allows(origin) { … 403 M_FORBIDDEN … }
package serveracl

import (
	"encoding/json"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/id"
)

// ACL is a parsed m.room.server_acl content. The zero ACL (no event in the
// room) allows every server.
type ACL struct {
	present         bool
	allowIPLiterals bool
	allow, deny     []string // lower-cased glob patterns
}

// Parse reads the content of an m.room.server_acl event. Content that is
// not a JSON object is treated as an empty object (which denies every
// server, as an ACL without an allow list does); entries that are not
// strings are skipped, and allow_ip_literals that is not a boolean counts
// as true, as the event's schema says.
func Parse(content []byte) ACL {
	acl := ACL{present: true, allowIPLiterals: true}
	var raw struct {
		AllowIPLiterals json.RawMessage   `json:"allow_ip_literals"`
		Allow           []json.RawMessage `json:"allow"`
		Deny            []json.RawMessage `json:"deny"`
	}
	if err := json.Unmarshal(content, &raw); err != nil {
		// A list or literal of the wrong type: read field by field.
		var fields map[string]json.RawMessage
		if json.Unmarshal(content, &fields) != nil {
			return acl
		}
		raw.AllowIPLiterals = fields["allow_ip_literals"]
		json.Unmarshal(fields["allow"], &raw.Allow)
		json.Unmarshal(fields["deny"], &raw.Deny)
	}
	if string(raw.AllowIPLiterals) == "false" {
		acl.allowIPLiterals = false
	}
	acl.allow = patterns(raw.Allow)
	acl.deny = patterns(raw.Deny)
	return acl
}

// patterns returns the string entries of a list, lower-cased.
func patterns(list []json.RawMessage) []string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		var s string
		if json.Unmarshal(e, &s) == nil {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// Allows applies the ACL to server, in the spec's order:
//
//  1. no m.room.server_acl event: allow;
//  2. an IP literal while allow_ip_literals is false: deny;
//  3. a match in deny: deny;
//  4. a match in allow: allow;
//  5. otherwise deny.
//
// The server's port is not considered, and matching ignores case.
func (a ACL) Allows(server id.ServerName) bool {
	// 1: no ACL, allow.
	if !a.present {
		return true
	}
	host := strings.ToLower(hostOf(string(server)))
	// 2: IP literals when they are not allowed.
	if !a.allowIPLiterals && isIPLiteral(host) {
		return false
	}
	// 3: deny list.
	for _, p := range a.deny {
		if Glob(p, host) {
			return false
		}
	}
	// 4: allow list; 5: otherwise deny.
	for _, p := range a.allow {
		if Glob(p, host) {
			return true
		}
	}
	return false
}

// hostOf strips the port from a server name.
func hostOf(s string) string {
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end >= 0 {
			return s[:end+1]
		}
		return s
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return s
}

func isIPLiteral(host string) bool {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// Glob reports whether s matches the glob-style pattern: "*" matches zero
// or more characters, "?" exactly one; everything else matches itself.
// It runs in O(len(pattern)·len(s)) time, whatever the pattern.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#glob-style-matching
func Glob(pattern, s string) bool {
	// The classic two-pointer match with backtracking to the last star,
	// over runes so that "?" matches one character.
	p, str := []rune(pattern), []rune(s)
	if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
		return false
	}
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
