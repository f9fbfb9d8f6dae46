package fedevents

import "errors"

// Sentinel errors; fedapi maps them to Matrix errors.
var (
	// ErrTooManyPDUs means a transaction holds more than MaxPDUs PDUs.
	ErrTooManyPDUs = errors.New("too many pdus in the transaction")
	// ErrTooManyEDUs means a transaction holds more than MaxEDUs EDUs.
	ErrTooManyEDUs = errors.New("too many edus in the transaction")
	// ErrNotInRoom means no user of this server is joined to the room.
	ErrNotInRoom = errors.New("this server is not in the room")
	// ErrDeniedByACL means the room's server ACL denies the server.
	ErrDeniedByACL = errors.New("server is denied by the room's server acl")
)
