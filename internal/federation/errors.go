package federation

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrPrivateAddress means a destination resolved to a loopback,
	// private, link-local or otherwise non-public address while
	// Config.AllowPrivate is off.
	ErrPrivateAddress = errors.New("destination address is not public")
	// ErrDeniedAddress means a destination resolved to an address in a
	// configured deny list.
	ErrDeniedAddress = errors.New("destination address is denied")
	// ErrNoAddress means a destination's name resolved to no address.
	ErrNoAddress = errors.New("destination has no address")
	// ErrInvalidServerName means a destination or a delegation is not a
	// valid server name.
	ErrInvalidServerName = errors.New("invalid server name")
	// ErrResponseTooLarge means a response body exceeded its limit.
	ErrResponseTooLarge = errors.New("response too large")
)

// HTTPError is a non-2xx answer of a remote server.
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// Errcode is the Matrix errcode of the body, if it had one.
	Errcode string
	// Message is the body's "error" string, if any.
	Message string
}

// Error returns a description of the answer.
func (e *HTTPError) Error() string {
	if e.Errcode != "" {
		return fmt.Sprintf("remote answered %d %s: %s", e.Status, e.Errcode, e.Message)
	}
	return fmt.Sprintf("remote answered %d", e.Status)
}
