package signing

import "errors"

// Sentinel errors. Errors returned by the package wrap one of them (or a
// canonicaljson error for input that is not valid JSON).
var (
	// ErrInvalidKeyID means a key ID is not "algorithm:version" with both
	// parts made of [a-zA-Z0-9_].
	ErrInvalidKeyID = errors.New("invalid key ID")
	// ErrUnsupportedAlgorithm means a key uses an algorithm other than
	// ed25519.
	ErrUnsupportedAlgorithm = errors.New("unsupported signing algorithm")
	// ErrInvalidKey means key material has the wrong length or encoding.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidKeyFile means a key file line is not
	// "ed25519 <version> <unpadded base64 seed>".
	ErrInvalidKeyFile = errors.New("invalid signing key file")
	// ErrNotObject means the data to sign or verify is not a JSON object, or
	// its signatures member has the wrong shape.
	ErrNotObject = errors.New("not a JSON object")
	// ErrNoSignature means the object carries no signature by the server
	// (with the key ID or, for CheckSignatures, with any usable key).
	ErrNoSignature = errors.New("no signature")
	// ErrNoVerifyKey means no verification key was found for any of the
	// server's signatures, or none was valid at the given time.
	ErrNoVerifyKey = errors.New("no valid verify key")
	// ErrBadSignature means a signature is malformed or does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrInvalidBase64 means a string is not (padded or unpadded) base64.
	ErrInvalidBase64 = errors.New("invalid base64")
)

// ErrInvalidAuthHeader means an Authorization header is not a well-formed
// X-Matrix header with origin, key and sig.
var ErrInvalidAuthHeader = errors.New("invalid X-Matrix authorization header")

// ErrInvalidKeyResponse means a server key response is malformed, names
// another server, or lacks a signature of one of its verify keys.
var ErrInvalidKeyResponse = errors.New("invalid server key response")
