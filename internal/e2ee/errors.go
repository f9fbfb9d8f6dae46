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

// errResyncsFull: too many device list resyncs are queued; the list stays
// stale until a later update queues it again.
var errResyncsFull = errors.New("too many device list resyncs queued")

// Errors of key backups.
var (
	// ErrBackupNotFound: the user has no such backup version (or none at
	// all), or no such key in it.
	ErrBackupNotFound = errors.New("unknown backup version")
	// ErrKeyNotFound: the backup holds no such key.
	ErrKeyNotFound = errors.New("key not found")
)

// WrongBackupVersionError is returned when keys are written to a backup
// version that is not the user's current one.
type WrongBackupVersionError struct {
	// Current is the user's current backup version.
	Current string
}

func (e *WrongBackupVersionError) Error() string {
	return "wrong backup version, the current one is " + e.Current
}
