package spaces

import "errors"

// Errors of the space hierarchy (possibly wrapped).
var (
	// ErrForbidden: the room is unknown, or the user (or server) may not
	// see it.
	ErrForbidden = errors.New("you may not view this room")
	// ErrBadToken: a from token this server did not make, or one made for
	// another room or other suggested_only/max_depth values.
	ErrBadToken = errors.New("invalid or mismatched pagination token")
)
