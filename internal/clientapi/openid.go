// Spec: Client-Server API § OpenID
// OpenAPI: data/api/client-server/openid.yaml (requestOpenIdToken)
// https://spec.matrix.org/v1.19/client-server-api/#openid

package clientapi

import (
	"context"
	"net/http"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// ShortTokens issues OpenID and login tokens and spends login tokens
// (*account.Service).
type ShortTokens interface {
	CreateOpenIDToken(ctx context.Context, user id.UserID) (string, time.Duration, error)
	CreateLoginToken(ctx context.Context, user id.UserID, lifetime time.Duration) (string, error)
	UseLoginToken(ctx context.Context, token string) (id.UserID, error)
}

var _ ShortTokens = (*account.Service)(nil)

// requestOpenIdToken gives the user an OpenID token that a third party
// can verify with this server over federation.
//
// POST /_matrix/client/v3/user/{userId}/openid/request_token
func (s *Server) requestOpenIdToken(w http.ResponseWriter, r *http.Request, sess session) error {
	if s.ShortTokens == nil {
		return matrixerr.Unrecognized("requestOpenIdToken is not configured")
	}
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	if user != sess.UserID {
		return matrixerr.Forbidden("you cannot request an OpenID token for another user")
	}
	var body map[string]any
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	tok, lifetime, err := s.ShortTokens.CreateOpenIDToken(r.Context(), user)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{
		"access_token":       tok,
		"token_type":         "Bearer",
		"matrix_server_name": s.ServerName,
		"expires_in":         int64(lifetime / time.Second),
	})
}
