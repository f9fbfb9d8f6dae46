package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// AccessToken is an access token as a client presented it. It never reaches
// a log in clear: LogValue and String redact it; use string(t) where the
// value itself is needed (hashing it for a lookup).
type AccessToken string

// LogValue redacts the token.
func (AccessToken) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String redacts the token, so that fmt and %v cannot leak it.
func (AccessToken) String() string { return "REDACTED" }

// AccessTokenOf returns the access token of r, from the Authorization:
// Bearer header or the deprecated access_token query parameter; the spec
// requires servers to accept both. It returns ErrNoAccessToken when there
// is none, and M_MISSING_TOKEN when the two disagree or the header uses
// another scheme.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#using-access-tokens
func AccessTokenOf(r *http.Request) (AccessToken, error) {
	var fromHeader string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", matrixerr.MissingToken("the Authorization header must be \"Bearer <access token>\"")
		}
		fromHeader = tok
	}
	fromQuery := r.URL.Query().Get("access_token")
	switch {
	case fromHeader != "" && fromQuery != "" && fromHeader != fromQuery:
		return "", matrixerr.MissingToken("the Authorization header and the access_token parameter differ")
	case fromHeader != "":
		return AccessToken(fromHeader), nil
	case fromQuery != "":
		return AccessToken(fromQuery), nil
	}
	return "", ErrNoAccessToken
}
