package account

import "errors"

// Sentinel errors of the account service (possibly wrapped).
var (
	// ErrNotFound: the user, device, token or session does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUserExists: the user ID is taken.
	ErrUserExists = errors.New("user exists")
)
