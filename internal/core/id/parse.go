package id

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#common-identifier-format

// hashIDLength is the length of an unpadded base64 SHA-256 hash, the opaque
// part of hash-based event IDs (v3+) and room IDs (v12).
const hashIDLength = 43

var (
	stdHash = base64.RawStdEncoding.Strict()
	urlHash = base64.RawURLEncoding.Strict()
)

// ParseUserID checks that s is a user ID, "@localpart:server_name", at most
// 255 bytes, with a valid server name.
//
// The localpart follows the spec's rule for historical user IDs, which
// servers MUST accept over federation: any valid UTF-8 except ":" and NUL,
// including the empty string. Use ValidLocalpart for localparts of new
// users and UserID.Compliant to tell historical IDs apart.
func ParseUserID(s string) (UserID, error) {
	if err := checkServerID(s, '@'); err != nil {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidUserID, s, err)
	}
	return UserID(s), nil
}

// NewUserID makes the user ID of a new user: localpart must satisfy
// ValidLocalpart and the whole ID must fit in 255 bytes.
func NewUserID(localpart string, server ServerName) (UserID, error) {
	if !ValidLocalpart(localpart) {
		return "", fmt.Errorf("%w %.80q: only a-z, 0-9 and ._=-/+ are allowed", ErrInvalidLocalpart, localpart)
	}
	if err := checkServerName(string(server)); err != nil {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidServerName, server, err)
	}
	u := "@" + localpart + ":" + string(server)
	if len(u) > MaxLength {
		return "", fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidUserID, len(u), MaxLength)
	}
	return UserID(u), nil
}

// ValidLocalpart reports whether s may be the localpart of a new user ID:
// non-empty and made only of a-z, 0-9, ".", "_", "=", "-", "/" and "+"
// (spec v1.8+). It does not check the 255-byte limit of the whole ID.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#user-identifiers
func ValidLocalpart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || isDigit(c) || strings.IndexByte("._=-/+", c) >= 0) {
			return false
		}
	}
	return true
}

// Compliant reports whether the user ID's localpart is non-empty and made
// only of U+0021 to U+007E. The spec calls other (historical) user IDs
// non-compliant: servers accept them in events but SHOULD NOT forward them
// to clients outside events.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#historical-user-ids
func (u UserID) Compliant() bool {
	l := u.Localpart()
	if l == "" {
		return false
	}
	for i := 0; i < len(l); i++ {
		if l[i] < 0x21 || l[i] > 0x7e {
			return false
		}
	}
	return true
}

// ParseCompliantUserID checks that s is a user ID whose localpart is
// compliant (see UserID.Compliant): non-empty and made only of U+0021 to
// U+007E. It is the check for user IDs a client names outside an event
// (the target of an invite, a profile, a filter's senders): the spec's
// leniency for historical user IDs covers events from other servers, not
// new requests.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#historical-user-ids
func ParseCompliantUserID(s string) (UserID, error) {
	u, err := ParseUserID(s)
	if err != nil {
		return "", err
	}
	if !u.Compliant() {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidUserID, s, reason("the localpart must be non-empty and use only U+0021 to U+007E"))
	}
	return u, nil
}

// ParseRoomID checks that s is a room ID of either form:
//
//   - "!opaque:server_name" (room versions 1–11): the opaque part is any
//     valid UTF-8 except ":" and NUL, the server name is valid;
//   - "!" + 43 characters of URL-safe unpadded base64 of a SHA-256 hash
//     (room version 12, the create event's ID with "!" for "$").
//
// In both forms the whole ID is at most 255 bytes.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#room-ids
func ParseRoomID(s string) (RoomID, error) {
	err := checkHashOrServerID(s, '!', "a room ID without \":server\" must be 43 characters of URL-safe base64", urlHash)
	if err != nil {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidRoomID, s, err)
	}
	return RoomID(s), nil
}

// ParseEventID checks that s is an event ID of either form:
//
//   - "$opaque:server_name" (room versions 1 and 2): the opaque part is any
//     valid UTF-8 except ":" and NUL, the server name is valid;
//   - "$" + 43 characters of unpadded base64 of a SHA-256 hash: standard
//     base64 (room version 3) or URL-safe base64 (versions 4+).
//
// In both forms the whole ID is at most 255 bytes. Whether the form suits
// a given room version is for the event package to check.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#event-ids
func ParseEventID(s string) (EventID, error) {
	err := checkHashOrServerID(s, '$', "an event ID without \":server\" must be 43 characters of base64", urlHash, stdHash)
	if err != nil {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidEventID, s, err)
	}
	return EventID(s), nil
}

// checkServerID checks the grammar user IDs and room aliases share: the
// sigil, an opaque part (any valid UTF-8 except ":" and NUL), ":" and a
// valid server name.
func checkServerID(s string, sigil byte) error {
	local, server, err := splitSigilled(s, sigil)
	if err == nil {
		err = checkOpaque(local)
	}
	if err == nil && server == "" {
		err = reason("missing \":server\"")
	}
	if err == nil {
		err = checkServerName(server)
	}
	return err
}

// checkHashOrServerID checks the grammar room IDs and event IDs share: the
// sigil, then either "opaque:server_name" or, without a ":", a SHA-256 hash
// in one of the base64 alphabets encs (hashReason says which otherwise).
func checkHashOrServerID(s string, sigil byte, hashReason string, encs ...*base64.Encoding) error {
	local, server, err := splitSigilled(s, sigil)
	if err != nil {
		return err
	}
	if !strings.Contains(s, ":") {
		for _, enc := range encs {
			if isHash(local, enc) {
				return nil
			}
		}
		return reason(hashReason)
	}
	if err := checkOpaque(local); err != nil {
		return err
	}
	return checkServerName(server)
}

// ParseRoomAlias checks that s is a room alias, "#localpart:server_name",
// at most 255 bytes; the localpart is any valid UTF-8 except ":" and NUL.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#room-aliases
func ParseRoomAlias(s string) (RoomAlias, error) {
	if err := checkServerID(s, '#'); err != nil {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidRoomAlias, s, err)
	}
	return RoomAlias(s), nil
}

// ParseDeviceID checks that s is a device ID. The spec leaves the format
// open; Hafen requires a non-empty valid UTF-8 string of at most 255 bytes
// without NUL.
func ParseDeviceID(s string) (DeviceID, error) {
	var err error
	switch {
	case s == "":
		err = reason("empty")
	case len(s) > MaxLength:
		err = reason("longer than 255 bytes")
	default:
		err = checkOpaque(s)
	}
	if err != nil {
		return "", fmt.Errorf("%w %.80q: %w", ErrInvalidDeviceID, s, err)
	}
	return DeviceID(s), nil
}

// String returns the device ID as a string.
func (d DeviceID) String() string { return string(d) }

// splitSigilled checks the sigil and the length limit and splits the rest
// at the first ":". server is "" when there is no ":".
func splitSigilled(s string, sigil byte) (local, server string, err error) {
	if len(s) == 0 || s[0] != sigil {
		return "", "", reason("must start with " + string(sigil))
	}
	if len(s) > MaxLength {
		return "", "", reason("longer than 255 bytes")
	}
	local, server, _ = strings.Cut(s[1:], ":")
	return local, server, nil
}

// checkOpaque checks the localpart rule shared by historical user IDs, room
// IDs, v1/v2 event IDs and room aliases: valid UTF-8 (so no surrogates),
// no NUL. (":" cannot occur: the ID was split at the first one.)
func checkOpaque(s string) error {
	if !utf8.ValidString(s) {
		return reason("localpart is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return reason("localpart contains NUL")
	}
	return nil
}

// isHash reports whether s is the canonical unpadded base64 encoding, under
// enc, of 32 bytes.
func isHash(s string, enc *base64.Encoding) bool {
	if len(s) != hashIDLength {
		return false
	}
	b, err := enc.DecodeString(s)
	return err == nil && len(b) == 32
}
