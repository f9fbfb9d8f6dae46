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

// Errors of the membership endpoints (make_join, send_join, make_leave,
// send_leave).
var (
	// ErrWrongServer means the user is not a user of the asking server.
	ErrWrongServer = errors.New("user does not belong to the asking server")
	// ErrIncompatibleVersion means the asking server does not support the
	// room's version.
	ErrIncompatibleVersion = errors.New("room version not supported by the asking server")
	// ErrBadEvent means the event sent does not match the request (path,
	// type, membership, sender, state key) or is not a valid event.
	ErrBadEvent = errors.New("invalid membership event")
	// ErrUnableToAuthorise means a restricted room's allow conditions
	// name only rooms this server is not in, so it cannot tell whether
	// the user may join.
	ErrUnableToAuthorise = errors.New("unable to authorise the join")
	// ErrMembershipRefused means the event path did not accept the event.
	ErrMembershipRefused = errors.New("membership event refused")
)
