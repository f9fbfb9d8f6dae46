// Package id defines Matrix identifiers as distinct types and validates them
// against the spec's identifier grammar.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#identifier-grammar
//
// The package is part of the pure protocol core: it does no I/O.
package id

import "strings"

// MaxLength is the longest identifier the spec allows, in bytes, for user
// IDs, room IDs, event IDs and room aliases (including sigil and domain).
const MaxLength = 255

// UserID is a Matrix user ID, "@localpart:server".
type UserID string

// RoomID is a Matrix room ID, "!opaque:server" (v1–v11) or "!hash" (v12).
type RoomID string

// EventID is a Matrix event ID, "$opaque:server" (v1, v2) or "$hash" (v3+).
type EventID string

// RoomAlias is a room alias, "#localpart:server".
type RoomAlias string

// ServerName is a server name: a DNS name, IPv4 address or bracketed IPv6
// address, with an optional port.
type ServerName string

// DeviceID is a device ID. The spec leaves its format open; Hafen accepts
// any non-empty string of at most MaxLength bytes.
type DeviceID string

// String returns the ID as a string.
func (u UserID) String() string { return string(u) }

// String returns the ID as a string.
func (r RoomID) String() string { return string(r) }

// String returns the ID as a string.
func (e EventID) String() string { return string(e) }

// String returns the alias as a string.
func (a RoomAlias) String() string { return string(a) }

// String returns the server name as a string.
func (s ServerName) String() string { return string(s) }

// Localpart returns the part between "@" and the first ":". It does not
// validate the ID.
func (u UserID) Localpart() string {
	s := string(u)
	if len(s) == 0 {
		return ""
	}
	s = s[1:]
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return s
}

// Domain returns the server name of a user ID: everything after the first
// ":". It does not validate the ID.
func (u UserID) Domain() ServerName { return domainOf(string(u)) }

// Domain returns the server name of a room ID, or "" for v12 room IDs,
// which have none.
func (r RoomID) Domain() ServerName { return domainOf(string(r)) }

// Domain returns the server name of a v1/v2 event ID, or "" for hash-based
// event IDs.
func (e EventID) Domain() ServerName { return domainOf(string(e)) }

// Domain returns the server name of a room alias.
func (a RoomAlias) Domain() ServerName { return domainOf(string(a)) }

func domainOf(s string) ServerName {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return ServerName(s[i+1:])
	}
	return ""
}
