// Spec: Client-Server API § API standards (query parameters)
// https://spec.matrix.org/v1.19/client-server-api/#api-standards

package clientapi

import (
	"net/url"
	"strconv"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// nonNegativeParam reads an integer query parameter that must be 0 or
// more: def when absent, 400 M_INVALID_PARAM for anything else.
func nonNegativeParam(q url.Values, name string, def int) (int, error) {
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
