package canonicaljson

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error the package returns wraps one of them and can
// be matched with errors.Is; errors about input bytes are *SyntaxError values
// that also carry the offset.
var (
	// ErrSyntax means the input is not valid JSON (RFC 8259).
	ErrSyntax = errors.New("invalid JSON")
	// ErrTrailingData means a valid JSON value is followed by more than
	// whitespace.
	ErrTrailingData = errors.New("data after the top-level value")
	// ErrInvalidUTF8 means the input, a string, or an object key is not valid
	// UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrLoneSurrogate means a \u escape names a UTF-16 surrogate that is not
	// part of a valid surrogate pair.
	ErrLoneSurrogate = errors.New("lone UTF-16 surrogate in \\u escape")
	// ErrDuplicateKey means an object has the same key twice (after
	// unescaping).
	ErrDuplicateKey = errors.New("duplicate object key")
	// ErrNotInteger means a strict number has a fraction or an exponent.
	ErrNotInteger = errors.New("number is not an integer")
	// ErrIntegerRange means a strict integer lies outside
	// [-(2**53)+1, (2**53)-1].
	ErrIntegerRange = errors.New("integer out of range")
	// ErrNumberRange means a legacy number overflows an IEEE double (Python
	// would turn it into Infinity, which canonical JSON cannot represent).
	ErrNumberRange = errors.New("number overflows a double")
	// ErrTooDeep means arrays and objects nest deeper than MaxDepth.
	ErrTooDeep = errors.New("nesting too deep")
	// ErrNotObject means a function that needs a JSON object got another
	// value.
	ErrNotObject = errors.New("not a JSON object")
	// ErrUnsupportedValue means Encode got a Go value that has no canonical
	// JSON form (an invalid UTF-8 string, a non-integer float, NaN, a cycle…).
	ErrUnsupportedValue = errors.New("value has no canonical JSON form")
)

// SyntaxError reports where in the input a problem was found.
type SyntaxError struct {
	// Offset is the byte offset in the input at which the problem was found.
	Offset int
	// Err is one of the package's sentinel errors.
	Err error
}

// Error describes the problem and its offset.
func (e *SyntaxError) Error() string {
	return "canonical json: " + e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel error.
func (e *SyntaxError) Unwrap() error { return e.Err }
