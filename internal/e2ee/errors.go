package e2ee

import "errors"

// Errors of the e2ee service (possibly wrapped, with the detail in the
// message).
var (
	// ErrInvalid: a key or request breaks the spec's format, or names
	// another user or device than the requester's.
	ErrInvalid = errors.New("invalid key")
	// ErrInvalidSignature: a signature is missing or does not verify.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrKeyChanged: a device already published different identity keys.
	ErrKeyChanged = errors.New("device keys changed")
	// ErrMissingMasterKey: a self-signing or user-signing key was uploaded
	// while the user has no master key.
	ErrMissingMasterKey = errors.New("no master signing key")
	// ErrUnknownKey: a signature was uploaded for a key the server does
	// not have.
	ErrUnknownKey = errors.New("unknown key")
)
