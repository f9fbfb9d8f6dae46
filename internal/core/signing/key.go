package signing

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// AlgorithmEd25519 is the only signing algorithm the spec defines.
const AlgorithmEd25519 = "ed25519"

// KeyID is a signing key identifier, "algorithm:version", for example
// "ed25519:a_1". The version is made of [a-zA-Z0-9_].
type KeyID string

// ParseKeyID checks that s is "algorithm:version", both parts non-empty and
// made of [a-zA-Z0-9_].
//
// The version's character set is the one keys.yaml (GET /_matrix/key/v2/server)
// requires; the spec gives none for the algorithm, so the same set is used.
func ParseKeyID(s string) (KeyID, error) {
	alg, ver, ok := strings.Cut(s, ":")
	if !ok || !validKeyIDPart(alg) || !validKeyIDPart(ver) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKeyID, s)
	}
	return KeyID(s), nil
}

func validKeyIDPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Algorithm returns the part before the first ":" ("ed25519").
func (k KeyID) Algorithm() string {
	alg, _, _ := strings.Cut(string(k), ":")
	return alg
}

// Version returns the part after the first ":".
func (k KeyID) Version() string {
	_, ver, _ := strings.Cut(string(k), ":")
	return ver
}

// String returns the key ID as a string.
func (k KeyID) String() string { return string(k) }

// Key is a server's private ed25519 signing key. Its String and GoString
// methods omit the private key, so a Key that reaches a log or an error
// message does not leak it.
type Key struct {
	// ServerName is the server the key signs for.
	ServerName id.ServerName
	// KeyID is the key's identifier, "ed25519:<version>".
	KeyID KeyID
	// Private is the ed25519 private key (seed followed by public key).
	Private ed25519.PrivateKey
}

// KeyFromSeed makes the key with the given 32-byte ed25519 seed.
func KeyFromSeed(server id.ServerName, keyID KeyID, seed []byte) (Key, error) {
	if err := checkEd25519KeyID(keyID); err != nil {
		return Key{}, err
	}
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	return Key{ServerName: server, KeyID: keyID, Private: ed25519.NewKeyFromSeed(seed)}, nil
}

// GenerateKey makes a new key with randomness from rand (crypto/rand.Reader
// in production).
func GenerateKey(rand io.Reader, server id.ServerName, keyID KeyID) (Key, error) {
	if err := checkEd25519KeyID(keyID); err != nil {
		return Key{}, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return Key{}, fmt.Errorf("read key seed: %w", err)
	}
	return KeyFromSeed(server, keyID, seed)
}

func checkEd25519KeyID(keyID KeyID) error {
	if _, err := ParseKeyID(string(keyID)); err != nil {
		return err
	}
	if keyID.Algorithm() != AlgorithmEd25519 {
		return fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, keyID)
	}
	return nil
}

// Public returns the key's public half.
func (k Key) Public() ed25519.PublicKey {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil
	}
	return k.Private.Public().(ed25519.PublicKey)
}

// Seed returns the key's 32-byte seed, the form in which it is stored.
func (k Key) Seed() []byte { return k.Private.Seed() }

// String describes the key without its private part.
func (k Key) String() string {
	return "signing key " + string(k.KeyID) + " of " + string(k.ServerName) + " (private key redacted)"
}

// GoString describes the key without its private part, for %#v.
func (k Key) GoString() string { return k.String() }
