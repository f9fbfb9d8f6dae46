// Spec: Client-Server API § Login (m.login.token and POST /login/get_token)
// OpenAPI: data/api/client-server/login_token.yaml (generateLoginToken)
// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv1loginget_token

package clientapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// stageToken is the m.login.token login type.
const stageToken = "m.login.token"

// loginTokensEnabled reports whether users may generate login tokens.
func (s *Server) loginTokensEnabled() bool { return s.ShortTokens != nil && s.LoginTokenLifetime > 0 }

// generateLoginToken gives the user a single-use login token for another
// device, after User-Interactive Authentication (always asked: the spec
// wants explicit consent for each new device).
//
// POST /_matrix/client/v1/login/get_token
func (s *Server) generateLoginToken(w http.ResponseWriter, r *http.Request, sess session) error {
	if !s.loginTokensEnabled() {
		// login_token.yaml: 400 when the user may not generate tokens
		// (the m.get_login_token capability says so).
		return matrixerr.Unknown("this server does not hand out login tokens")
	}
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := s.checkUIA(r, uiaRequest{flows: passwordFlows, userID: sess.UserID, auth: req.Auth}); err != nil {
		return err
	}
	tok, err := s.ShortTokens.CreateLoginToken(r.Context(), sess.UserID, s.LoginTokenLifetime)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"login_token": tok, "expires_in_ms": s.LoginTokenLifetime.Milliseconds()})
}

// loginWithToken spends an m.login.token and returns its user: 403
// M_FORBIDDEN for an unknown, used or expired token, or a deactivated
// account.
func (s *Server) loginWithToken(r *http.Request, token string) (id.UserID, error) {
	if !s.loginTokensEnabled() {
		return "", matrixerr.Unknown("unsupported login type " + stageToken)
	}
	if token == "" {
		return "", matrixerr.MissingParam("token")
	}
	user, err := s.ShortTokens.UseLoginToken(r.Context(), token)
	if errors.Is(err, account.ErrNotFound) {
		return "", matrixerr.Forbidden("invalid or expired login token")
	}
	if err != nil {
		return "", err
	}
	_, deactivated, err := s.Store.UserPassword(r.Context(), user)
	if err != nil && !isNotFound(err) {
		return "", fmt.Errorf("load account: %w", err)
	}
	if deactivated {
		return "", matrixerr.UserDeactivated("the account is deactivated")
	}
	return user, nil
}
