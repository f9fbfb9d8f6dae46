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

// Errors of the endpoints that serve events.
var (
	// ErrEventNotFound means the event is unknown, rejected or not in the
	// room named.
	ErrEventNotFound = errors.New("event not found")
	// ErrNotVisible means the history visibility of the room at the event
	// does not let the asking server see it.
	ErrNotVisible = errors.New("event not visible to the server")
	// ErrBadRequest means the request names no event or asks for an
	// invalid amount.
	ErrBadRequest = errors.New("invalid request")
)
