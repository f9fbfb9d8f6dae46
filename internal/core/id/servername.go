package id

import (
	"fmt"
	"net/netip"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#server-name

// maxDNSName is the grammar's limit: dns-name = 1*255dns-char.
const maxDNSName = 255

// ParseServerName checks s against the server name grammar:
//
//	server_name = hostname [ ":" port ]
//	hostname    = IPv4address / "[" IPv6address "]" / dns-name
//
// A DNS name is a series of non-empty labels of letters, digits and "-"
// separated by "." (no leading, trailing or doubled dot), at most 255
// characters. A name of four all-digit labels is an IPv4 literal and must
// be four decimal numbers 0–255. An IPv6 literal must be an RFC 3513 §2.2
// address (no zone). The port, if present, is 1–5 digits with a value of
// 1–65535. Server names are case-sensitive and kept as given.
//
// NOTSPEC: labels longer than 63 characters and labels that start or end
// with "-" are accepted, as Synapse accepts them; the spec only asks that
// names "should follow the conventional restrictions for internet hostnames".
func ParseServerName(s string) (ServerName, error) {
	if err := checkServerName(s); err != nil {
		return "", fmt.Errorf("%w %.80q: %s", ErrInvalidServerName, s, err)
	}
	return ServerName(s), nil
}

// reason is a fixed explanation of why an identifier is invalid.
type reason string

func (r reason) Error() string { return string(r) }

func checkServerName(s string) error {
	host, port := s, ""
	if len(s) > 0 && s[0] == '[' {
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return reason("unterminated IPv6 literal")
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return reason("junk after IPv6 literal")
			}
			port = port[1:]
			if err := checkPort(port); err != nil {
				return err
			}
		}
		return checkIPv6Literal(host[1 : len(host)-1])
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			host, port = s[:i], s[i+1:]
			if err := checkPort(port); err != nil {
				return err
			}
			break
		}
	}
	return checkHostname(host)
}

func checkPort(p string) error {
	if len(p) == 0 || len(p) > 5 {
		return reason("port must have 1 to 5 digits")
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if !isDigit(p[i]) {
			return reason("port must be decimal")
		}
		n = n*10 + int(p[i]-'0')
	}
	if n < 1 || n > 65535 {
		return reason("port out of range 1-65535")
	}
	return nil
}

// checkIPv6Literal checks the text between the brackets.
func checkIPv6Literal(a string) error {
	// IPv6address = 2*45IPv6char; IPv6char = DIGIT / A-F / a-f / ":" / "."
	if len(a) < 2 || len(a) > 45 {
		return reason("IPv6 literal must have 2 to 45 characters")
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') && c != ':' && c != '.' {
			return reason("invalid character in IPv6 literal")
		}
	}
	// The character set excludes zones ("%eth0"), so netip's grammar is
	// RFC 3513's: eight groups, "::" once, optional trailing dotted quad.
	addr, err := netip.ParseAddr(a)
	if err != nil || !addr.Is6() {
		return reason("not an IPv6 address")
	}
	return nil
}

func checkHostname(h string) error {
	if len(h) == 0 {
		return reason("empty hostname")
	}
	if len(h) > maxDNSName {
		return reason("hostname longer than 255 characters")
	}
	labels, numeric := 0, 0
	labelStart := 0
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '.' {
			c := h[i]
			if !isDigit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-' {
				return reason("invalid character in hostname")
			}
			continue
		}
		label := h[labelStart:i]
		if label == "" {
			return reason("empty label in hostname")
		}
		labels++
		if allDigits(label) {
			numeric++
		}
		labelStart = i + 1
	}
	if labels == 4 && numeric == 4 {
		return checkIPv4(h)
	}
	return nil
}

// checkIPv4 checks four all-digit labels: 1*3DIGIT each, values 0–255.
func checkIPv4(h string) error {
	n, digits := 0, 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == '.' {
			if digits > 3 || n > 255 {
				return reason("IPv4 literal part out of range 0-255")
			}
			n, digits = 0, 0
			continue
		}
		n = n*10 + int(h[i]-'0')
		digits++
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
