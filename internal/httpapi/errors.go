package httpapi

import "github.com/hafenchat/hafen/internal/matrixerr"

// ErrNoAccessToken is returned by AccessTokenOf when a request carries no
// access token. It is a 401 M_MISSING_TOKEN; endpoints where
// authentication is optional test for it with errors.Is.
var ErrNoAccessToken = matrixerr.MissingToken("missing access token")
