package httpapi

import (
	"net/url"
	"strconv"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// The Client-Server and Server-Server APIs read their integer query
// parameters (limits, timeouts, sizes) with these: one wording of the
// errors, one notion of what a valid number is.

// NonNegativeParam reads an integer query parameter that must be 0 or
// more: def when absent, 400 M_INVALID_PARAM for anything else.
func NonNegativeParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, matrixerr.InvalidParam("%s must be a non-negative integer", name)
	}
	return n, nil
}

// PositiveParam reads an integer query parameter that must be 1 or more:
// def when absent, 400 M_INVALID_PARAM for anything else.
func PositiveParam(q url.Values, name string, def int) (int, error) {
	if q.Get(name) == "" {
		return def, nil
	}
	return RequiredPositiveParam(q, name)
}

// RequiredPositiveParam reads an integer query parameter that must be
// present (400 M_MISSING_PARAM) and 1 or more (400 M_INVALID_PARAM).
func RequiredPositiveParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, matrixerr.MissingParam(name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, matrixerr.InvalidParam("%s must be a positive integer", name)
	}
	return n, nil
}
