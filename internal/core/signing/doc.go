// Package signing owns Hafen's ed25519 signing keys and the Matrix algorithm
// for signing JSON objects and checking their signatures.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#signing-json
// and https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
//
// A Key is a server's private signing key with its key ID. SignJSON signs an
// object with it; VerifyJSON checks one signature with a public key;
// CheckSignatures runs the whole "Checking for a Signature" procedure for a
// server with keys from a KeyLookup, honouring key validity (VerifyKey).
//
//	k, _ := signing.KeyFromSeed("example.org", "ed25519:a_1", seed)
//	signed, _ := signing.SignJSON([]byte(`{"a":1}`), k)
//	err := signing.VerifyJSON(signed, "example.org", "ed25519:a_1", k.Public())
//
// Both canonicalize with canonicaljson's legacy number rules, which agree
// with the strict rules on every strict-valid object and also reproduce what
// Synapse signed for events of room versions 1–5 that hold floats or large
// integers. Callers that must enforce strict canonical JSON (events of room
// versions 6+, client input) check it themselves with
// canonicaljson.Canonicalize.
//
// The package is part of the pure protocol core: it does no I/O. Randomness
// and time come in as arguments.
package signing
