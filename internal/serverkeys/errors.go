package serverkeys

import "errors"

// Sentinel errors.
var (
	// ErrUnknownKey means a server's key could not be found, locally or by
	// fetching it.
	ErrUnknownKey = errors.New("unknown server key")
	// ErrExpiredKey means a key is known but not valid for the use: an old
	// key or one past its validity signing a request.
	ErrExpiredKey = errors.New("server key expired")
)
