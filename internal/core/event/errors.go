package event

import "errors"

// Sentinel errors. Errors returned by the package wrap one of them, or an
// error of core/canonicaljson, core/id or core/signing.
var (
	// ErrFormat means a PDU does not follow the event format of its room
	// version: a required field is missing or has the wrong type, an
	// identifier is malformed, or a list is too long.
	ErrFormat = errors.New("invalid event format")
	// ErrTooLarge means an event or one of its fields exceeds a size limit.
	ErrTooLarge = errors.New("event too large")
	// ErrHashMismatch means the content hash in hashes.sha256 is missing,
	// malformed, or differs from the hash of the event.
	ErrHashMismatch = errors.New("content hash mismatch")
	// ErrMissingSignature means an event lacks a signature from a server
	// whose signature the room version requires.
	ErrMissingSignature = errors.New("missing required signature")
	// ErrBuild means a Proto cannot be turned into an event.
	ErrBuild = errors.New("cannot build event")
)
