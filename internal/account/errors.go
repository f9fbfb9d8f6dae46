package account

import "errors"

// Sentinel errors of the account service (possibly wrapped).
var (
	// ErrNotFound: the user, device, token or session does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUserExists: the user ID is taken.
	ErrUserExists = errors.New("user exists")
	// ErrTokenExpired: the access token has expired; its refresh token
	// (if the client kept it) renews it.
	ErrTokenExpired = errors.New("access token expired")
	// ErrNotAdmin: the user is not a server administrator.
	ErrNotAdmin = errors.New("not a server administrator")
)
