package httpapi

import (
	"net/url"
	"strconv"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// NonNegativeParam reads an integer query parameter that must be 0 or
// more: def when absent, 400 M_INVALID_PARAM for anything else. The
// Client-Server and Server-Server APIs both read their limits with it.
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
