package profile

import "errors"

// Errors of the profile service (possibly wrapped).
var (
	// ErrNotFound: the user is unknown, deactivated or not local.
	ErrNotFound = errors.New("profile not found")
	// ErrNotStored: the field is not one Hafen stores.
	ErrNotStored = errors.New("this server only stores displayname and avatar_url")
	// ErrTooLarge: the value is longer than the field allows.
	ErrTooLarge = errors.New("profile value too large")
	// ErrInvalid: the value breaks the field's format.
	ErrInvalid = errors.New("invalid profile value")
)
