package room

import (
	"errors"
	"fmt"
)

// Sentinel errors of the event path. Handlers map them to Matrix errors.
var (
	// ErrForbidden means the auth rules reject the event.
	ErrForbidden = errors.New("forbidden by the auth rules")
	// ErrRoomNotFound means the room is not known to this server.
	ErrRoomNotFound = errors.New("room not found")
	// ErrInvalidRequest means the request cannot become a valid event.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrEventTooLarge means the built event exceeds the size limit.
	ErrEventTooLarge = errors.New("event too large")
	// ErrMissingPrevEvents means an event from another server names prev
	// events this server does not have with their state.
	ErrMissingPrevEvents = errors.New("prev events missing")
	// ErrNotResident means no user of this server is joined to a room it
	// knows, so a change must go through another server: a user invited
	// there by another server joins or rejects the invite through it. It
	// wraps ErrRoomNotFound, which callers treat the same way.
	ErrNotResident = fmt.Errorf("%w: no user of this server is joined", ErrRoomNotFound)
	// ErrMissingAuthEvents means an event from another server names auth
	// events this server has neither accepted nor rejected. It wraps
	// ErrMissingPrevEvents: the event is refused, not rejected, so that the
	// caller fetches what it lacks and offers it again.
	ErrMissingAuthEvents = fmt.Errorf("%w: auth events unknown", ErrMissingPrevEvents)
	// ErrAliasInUse means a requested room alias already exists.
	ErrAliasInUse = errors.New("room alias in use")
	// ErrStillMember means a user asked to forget a room they are joined
	// to, invited to or knocking on.
	ErrStillMember = errors.New("leave the room before forgetting it")
	// ErrUnableToGrantJoin means a user qualifies for a restricted join but
	// no user of this server in the room may invite, so none can authorise
	// it.
	ErrUnableToGrantJoin = errors.New("unable to grant join")
	// ErrContended means the room's persist fence refused the event at
	// every attempt because other writers (other processes on the same
	// database) kept advancing the room: nothing was written, and the
	// request may be retried as it is.
	ErrContended = errors.New("room busy with other writers")
)
