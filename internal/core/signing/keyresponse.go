package signing

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
// and data/api/server-server/definitions/keys.yaml

// MaxKeyValidity is how far past the fetch a key response's valid_until_ts
// is believed: "Servers MUST use the lesser of this field and 7 days into
// the future when determining if a key is valid."
const MaxKeyValidity int64 = 7 * 24 * 60 * 60 * 1000

// ServerKeys is a verified key response of one server.
type ServerKeys struct {
	// ServerName is the server the keys belong to.
	ServerName id.ServerName
	// ValidUntilTS is the response's valid_until_ts as published.
	ValidUntilTS int64
	// Keys are the ed25519 keys of verify_keys (ExpiredTS 0, ValidUntilTS
	// capped at MaxKeyValidity past the fetch) and old_verify_keys
	// (ExpiredTS set).
	Keys map[KeyID]VerifyKey
}

// keyResponse is the wire form of a key response.
type keyResponse struct {
	ServerName    string                          `json:"server_name"`
	ValidUntilTS  *int64                          `json:"valid_until_ts"`
	VerifyKeys    map[string]struct{ Key string } `json:"verify_keys"`
	OldVerifyKeys map[string]struct {
		Key       string `json:"key"`
		ExpiredTS int64  `json:"expired_ts"`
	} `json:"old_verify_keys"`
}

// ParseKeyResponse checks a GET /_matrix/key/v2/server response (or one
// entry of a notary's answer) for server, fetched at fetchedTS
// (milliseconds since the epoch): server_name must be server,
// valid_until_ts present, and every ed25519 key of verify_keys must have
// signed the response. Keys of other algorithms are ignored. Old keys
// whose expired_ts is not positive are kept with an expired_ts of 1, so
// they stay old keys.
func ParseKeyResponse(raw []byte, server id.ServerName, fetchedTS int64) (ServerKeys, error) {
	var r keyResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return ServerKeys{}, fmt.Errorf("key response of %s: %w: %w", server, ErrInvalidKeyResponse, err)
	}
	if r.ServerName != string(server) {
		return ServerKeys{}, fmt.Errorf("key response of %s: %w: server_name is %.80q", server, ErrInvalidKeyResponse, r.ServerName)
	}
	if r.ValidUntilTS == nil {
		return ServerKeys{}, fmt.Errorf("key response of %s: %w: no valid_until_ts", server, ErrInvalidKeyResponse)
	}
	out := ServerKeys{ServerName: server, ValidUntilTS: *r.ValidUntilTS, Keys: map[KeyID]VerifyKey{}}
	validUntil := min(*r.ValidUntilTS, fetchedTS+MaxKeyValidity)
	for kid, k := range r.OldVerifyKeys {
		keyID, pub, ok := parseVerifyKey(kid, k.Key)
		if !ok {
			continue
		}
		out.Keys[keyID] = VerifyKey{Public: pub, ExpiredTS: max(k.ExpiredTS, 1)}
	}
	ids := make([]string, 0, len(r.VerifyKeys))
	for kid := range r.VerifyKeys {
		ids = append(ids, kid)
	}
	slices.Sort(ids)
	current := 0
	for _, kid := range ids {
		keyID, pub, ok := parseVerifyKey(kid, r.VerifyKeys[kid].Key)
		if !ok {
			continue
		}
		if err := VerifyJSON(raw, server, keyID, pub); err != nil {
			return ServerKeys{}, fmt.Errorf("key response of %s: %w: not signed by %s: %w", server, ErrInvalidKeyResponse, keyID, err)
		}
		out.Keys[keyID] = VerifyKey{Public: pub, ValidUntilTS: validUntil}
		current++
	}
	if current == 0 {
		return ServerKeys{}, fmt.Errorf("key response of %s: %w: no ed25519 key in verify_keys", server, ErrInvalidKeyResponse)
	}
	return out, nil
}

// parseVerifyKey returns an ed25519 key ID and its public key, or false if
// the key is of another algorithm or malformed.
func parseVerifyKey(kid, b64 string) (KeyID, ed25519.PublicKey, bool) {
	keyID, err := ParseKeyID(kid)
	if err != nil || keyID.Algorithm() != AlgorithmEd25519 {
		return "", nil, false
	}
	pub, err := DecodeBase64(b64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return "", nil, false
	}
	return keyID, ed25519.PublicKey(pub), true
}
