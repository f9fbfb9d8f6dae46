package matrixerr

import (
	"fmt"
	"time"
)

// Error is an error a client sees as a standard error response. Handlers
// return it (usually through one of the constructors below); Write renders
// it.
type Error struct {
	// Kind selects the errcode and the HTTP status.
	Kind Kind
	// Message is the human-readable "error" string. It is sent to the
	// client, except for KindInternal, whose message is only logged.
	Message string
	// RetryAfter, for KindLimitExceeded, is sent as "retry_after_ms" and
	// as the Retry-After header (rounded up to whole seconds).
	RetryAfter time.Duration
	// SoftLogout, for KindUnknownToken and KindUserLocked, is sent as
	// "soft_logout": true.
	SoftLogout bool
	// Fields holds further keys some errcodes define, for example
	// "admin_contact" (M_RESOURCE_LIMIT_EXCEEDED) or "room_version"
	// (M_INCOMPATIBLE_ROOM_VERSION). "errcode" and "error" are ignored here.
	Fields map[string]any
	// Err is the underlying cause, for logs and errors.Is; it is never sent.
	Err error
}

// Error returns "M_CODE: message" (and the cause, if any).
func (e *Error) Error() string {
	s := e.Kind.Code() + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Code returns the errcode.
func (e *Error) Code() string { return e.Kind.Code() }

// Status returns the HTTP status.
func (e *Error) Status() int { return e.Kind.Status() }

// New returns an Error of the given kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error of the given kind that keeps err as its cause. The
// cause is logged for KindInternal and never sent to the client.
func Wrap(kind Kind, err error, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// Internal returns a 500 M_UNKNOWN whose cause is err. Use it to add context
// to an unexpected failure; returning err itself has the same effect on the
// wire.
func Internal(err error, message string) *Error { return Wrap(KindInternal, err, message) }

// Unknown returns 400 M_UNKNOWN.
func Unknown(message string) *Error { return &Error{Kind: KindUnknown, Message: message} }

// Conflict returns a 409 M_UNKNOWN error.
func Conflict(message string) *Error { return &Error{Kind: KindConflict, Message: message} }

// BadJSON returns 400 M_BAD_JSON: the body is JSON but not what the endpoint
// expects (missing keys, wrong types, invalid values).
func BadJSON(format string, args ...any) *Error { return New(KindBadJSON, format, args...) }

// NotJSON returns 400 M_NOT_JSON: the body is not valid JSON.
func NotJSON(message string) *Error { return &Error{Kind: KindNotJSON, Message: message} }

// Forbidden returns 403 M_FORBIDDEN.
func Forbidden(message string) *Error { return &Error{Kind: KindForbidden, Message: message} }

// LimitExceeded returns 429 M_LIMIT_EXCEEDED telling the client to retry
// after the given duration.
func LimitExceeded(retryAfter time.Duration) *Error {
	return &Error{Kind: KindLimitExceeded, Message: "too many requests", RetryAfter: retryAfter}
}

// MissingToken returns 401 M_MISSING_TOKEN.
func MissingToken(message string) *Error { return &Error{Kind: KindMissingToken, Message: message} }

// UnknownToken returns 401 M_UNKNOWN_TOKEN; softLogout sets "soft_logout".
func UnknownToken(message string, softLogout bool) *Error {
	return &Error{Kind: KindUnknownToken, Message: message, SoftLogout: softLogout}
}

// NotFound returns 404 M_NOT_FOUND.
func NotFound(message string) *Error { return &Error{Kind: KindNotFound, Message: message} }

// Unrecognized returns 404 M_UNRECOGNIZED: an endpoint Hafen does not
// implement.
func Unrecognized(message string) *Error { return &Error{Kind: KindUnrecognized, Message: message} }

// MethodNotAllowed returns 405 M_UNRECOGNIZED: a known endpoint with the
// wrong method.
func MethodNotAllowed(message string) *Error {
	return &Error{Kind: KindMethodNotAllowed, Message: message}
}

// MissingParam returns 400 M_MISSING_PARAM naming the parameter.
func MissingParam(name string) *Error {
	return New(KindMissingParam, "missing parameter %q", name)
}

// InvalidParam returns 400 M_INVALID_PARAM.
func InvalidParam(format string, args ...any) *Error { return New(KindInvalidParam, format, args...) }

// TooLarge returns 413 M_TOO_LARGE.
func TooLarge(message string) *Error { return &Error{Kind: KindTooLarge, Message: message} }

// UserInUse returns 400 M_USER_IN_USE.
func UserInUse(message string) *Error { return &Error{Kind: KindUserInUse, Message: message} }

// InvalidUsername returns 400 M_INVALID_USERNAME.
func InvalidUsername(message string) *Error {
	return &Error{Kind: KindInvalidUsername, Message: message}
}

// Exclusive returns 400 M_EXCLUSIVE.
func Exclusive(message string) *Error { return &Error{Kind: KindExclusive, Message: message} }

// UserDeactivated returns 403 M_USER_DEACTIVATED.
func UserDeactivated(message string) *Error {
	return &Error{Kind: KindUserDeactivated, Message: message}
}

// UserLocked returns 401 M_USER_LOCKED with "soft_logout": true, as the spec
// requires for a locked account.
func UserLocked(message string) *Error {
	return &Error{Kind: KindUserLocked, Message: message, SoftLogout: true}
}

// UserSuspended returns 403 M_USER_SUSPENDED.
func UserSuspended(message string) *Error {
	return &Error{Kind: KindUserSuspended, Message: message}
}

// GuestAccessForbidden returns 403 M_GUEST_ACCESS_FORBIDDEN.
func GuestAccessForbidden(message string) *Error {
	return &Error{Kind: KindGuestAccessForbidden, Message: message}
}

// WeakPassword returns 400 M_WEAK_PASSWORD.
func WeakPassword(message string) *Error { return &Error{Kind: KindWeakPassword, Message: message} }

// Unauthorized returns 401 M_UNAUTHORIZED.
func Unauthorized(message string) *Error { return &Error{Kind: KindUnauthorized, Message: message} }

// UnsupportedRoomVersion returns 400 M_UNSUPPORTED_ROOM_VERSION.
func UnsupportedRoomVersion(message string) *Error {
	return &Error{Kind: KindUnsupportedRoomVersion, Message: message}
}

// IncompatibleRoomVersion returns 400 M_INCOMPATIBLE_ROOM_VERSION with the
// room's version in "room_version".
func IncompatibleRoomVersion(roomVersion string) *Error {
	return &Error{
		Kind:    KindIncompatibleRoomVersion,
		Message: "the room's version is not supported by this server",
		Fields:  map[string]any{"room_version": roomVersion},
	}
}

// ResourceLimitExceeded returns 403 M_RESOURCE_LIMIT_EXCEEDED with the
// required "admin_contact".
func ResourceLimitExceeded(message, adminContact string) *Error {
	return &Error{
		Kind:    KindResourceLimitExceeded,
		Message: message,
		Fields:  map[string]any{"admin_contact": adminContact},
	}
}

// BadState returns 400 M_BAD_STATE.
func BadState(message string) *Error { return &Error{Kind: KindBadState, Message: message} }

// RoomInUse returns 400 M_ROOM_IN_USE.
func RoomInUse(message string) *Error { return &Error{Kind: KindRoomInUse, Message: message} }

// InvalidRoomState returns 400 M_INVALID_ROOM_STATE.
func InvalidRoomState(message string) *Error {
	return &Error{Kind: KindInvalidRoomState, Message: message}
}
