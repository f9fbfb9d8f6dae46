package id

import "errors"

// Sentinel errors, one per identifier kind. Parse functions wrap them with
// the reason.
var (
	// ErrInvalidUserID means a string is not a user ID.
	ErrInvalidUserID = errors.New("invalid user ID")
	// ErrInvalidRoomID means a string is not a room ID.
	ErrInvalidRoomID = errors.New("invalid room ID")
	// ErrInvalidEventID means a string is not an event ID.
	ErrInvalidEventID = errors.New("invalid event ID")
	// ErrInvalidRoomAlias means a string is not a room alias.
	ErrInvalidRoomAlias = errors.New("invalid room alias")
	// ErrInvalidServerName means a string is not a server name.
	ErrInvalidServerName = errors.New("invalid server name")
	// ErrInvalidDeviceID means a string is not a device ID.
	ErrInvalidDeviceID = errors.New("invalid device ID")
	// ErrInvalidLocalpart means a localpart is not allowed for new user IDs.
	ErrInvalidLocalpart = errors.New("invalid user ID localpart")
)
