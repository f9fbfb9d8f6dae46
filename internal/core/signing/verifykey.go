package signing

import (
	"crypto/ed25519"

	"github.com/hafenchat/hafen/internal/core/id"
)

// VerifyKey is a public key of a remote server with the validity the server
// (or a notary) published for it.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
// and https://spec.matrix.org/v1.19/rooms/v5/#signing-key-validity-period
type VerifyKey struct {
	// Public is the ed25519 public key.
	Public ed25519.PublicKey
	// ValidUntilTS is the valid_until_ts of the key response that listed the
	// key under verify_keys (milliseconds since the epoch). The spec asks
	// for the lesser of it and "7 days into the future" at fetch time; the
	// key store, which knows when it fetched, applies that cap before
	// building the VerifyKey.
	ValidUntilTS int64
	// ExpiredTS is the expired_ts of a key listed under old_verify_keys; zero
	// for a current key. Old keys verify events only, never requests.
	ExpiredTS int64
}

// IsOld reports whether the key came from old_verify_keys.
func (k VerifyKey) IsOld() bool { return k.ExpiredTS != 0 }

// ValidAt reports whether the key may verify a signature made at ts
// (milliseconds since the epoch).
//
// enforceValidity is the room version flag EnforceKeyValidity (v5+) when
// checking an event, with ts its origin_server_ts; rooms v1–4 ignore
// validity (keys.yaml: valid_until_ts "MUST be ignored in room versions 1,
// 2, 3, and 4"). For anything other than events (request authentication,
// key responses), pass true and the current time.
//
// A current key is valid while ts <= ValidUntilTS ("at least as large as the
// origin_server_ts"); an old key while ts <= ExpiredTS, as Synapse treats
// expired_ts as the old key's valid_until_ts.
func (k VerifyKey) ValidAt(ts int64, enforceValidity bool) bool {
	if !enforceValidity {
		return true
	}
	if k.IsOld() {
		return ts <= k.ExpiredTS
	}
	return ts <= k.ValidUntilTS
}

// KeyLookup returns the verify key of a server with the given key ID, and
// whether it is known. Implementations read a cache filled by the key
// fetcher; the core never fetches keys itself.
type KeyLookup func(server id.ServerName, keyID KeyID) (VerifyKey, bool)
