package filter

import "errors"

// Errors of the filter service (possibly wrapped).
var (
	// ErrNotFound: the user has no filter with that ID.
	ErrNotFound = errors.New("unknown filter")
	// ErrInvalid: the filter breaks the spec's constraints or Hafen's
	// limits. The error also wraps the cause (id.ErrInvalidUserID for a
	// malformed sender, for instance).
	ErrInvalid = errors.New("invalid filter")
)
