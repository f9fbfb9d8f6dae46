// Spec: Server-Server API § OpenID
// OpenAPI: data/api/server-server/openid.yaml (exchangeOpenIdToken)
// https://spec.matrix.org/v1.19/server-server-api/#openid

package fedapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// OpenID resolves OpenID tokens (*account.Service).
type OpenID interface {
	OpenIDTokenOwner(ctx context.Context, token string) (id.UserID, error)
}

var _ OpenID = (*account.Service)(nil)

// exchangeOpenIdToken tells a third party which user an OpenID token
// belongs to. The caller is not a homeserver, so there is no X-Matrix
// signature: the token is the credential.
//
// GET /_matrix/federation/v1/openid/userinfo
func (s *Server) exchangeOpenIdToken(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("access_token")
	if tok == "" || s.OpenID == nil {
		return matrixerr.UnknownToken("access token unknown or expired", false)
	}
	user, err := s.OpenID.OpenIDTokenOwner(r.Context(), tok)
	if errors.Is(err, account.ErrNotFound) {
		return matrixerr.UnknownToken("access token unknown or expired", false)
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]string{"sub": string(user)})
}
