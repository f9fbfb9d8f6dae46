// Spec: Client-Server API § Refreshing access tokens (spec v1.3)
// OpenAPI: data/api/client-server/refresh.yaml (refresh)
// https://spec.matrix.org/v1.19/client-server-api/#refreshing-access-tokens

package clientapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Refresher keeps refresh tokens (*account.Service).
type Refresher interface {
	CreateRefreshableToken(ctx context.Context, token, refresh string, userID id.UserID, deviceID id.DeviceID, lifetime time.Duration) error
	Refresh(ctx context.Context, old, token, refresh string, lifetime time.Duration) (id.UserID, id.DeviceID, error)
}

var _ Refresher = (*account.Service)(nil)

// refreshEnabled reports whether clients that ask get refresh tokens.
func (s *Server) refreshEnabled() bool { return s.Refresher != nil && s.AccessTokenLifetime > 0 }

// issueRefreshable creates (or reuses) a device and gives it an access
// token that expires after AccessTokenLifetime and a refresh token.
func (s *Server) issueRefreshable(ctx context.Context, userID id.UserID, deviceID id.DeviceID, displayName string) (tok, refresh string, dev id.DeviceID, err error) {
	if deviceID == "" {
		deviceID = newDeviceID()
	}
	if _, err := s.Store.CreateDevice(ctx, userID, deviceID, displayName); err != nil {
		return "", "", "", fmt.Errorf("create device: %w", err)
	}
	tok, refresh = string(newAccessToken()), string(newAccessToken())
	if err := s.Refresher.CreateRefreshableToken(ctx, tok, refresh, userID, deviceID, s.AccessTokenLifetime); err != nil {
		return "", "", "", fmt.Errorf("create access token: %w", err)
	}
	return tok, refresh, deviceID, nil
}

// issueLogin gives the device its tokens for a login or registration
// response: with a refresh token when the client asked and the server
// offers them (access tokens then expire), else one that does not expire.
func (s *Server) issueLogin(ctx context.Context, resp *loginResponse, userID id.UserID, deviceID id.DeviceID, displayName string, wantRefresh bool) error {
	if wantRefresh && s.refreshEnabled() {
		tok, refresh, dev, err := s.issueRefreshable(ctx, userID, deviceID, displayName)
		if err != nil {
			return err
		}
		resp.AccessToken, resp.RefreshToken, resp.DeviceID = tok, refresh, dev
		resp.ExpiresInMS = s.AccessTokenLifetime.Milliseconds()
		return nil
	}
	tok, dev, err := s.issueToken(ctx, userID, deviceID, displayName)
	if err != nil {
		return err
	}
	resp.AccessToken, resp.DeviceID = string(tok), dev
	return nil
}

// refresh exchanges a refresh token for a new access token and refresh
// token.
//
// POST /_matrix/client/v3/refresh
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken *string `json:"refresh_token"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.RefreshToken == nil {
		return matrixerr.MissingParam("refresh_token")
	}
	if !s.refreshEnabled() {
		return matrixerr.UnknownToken("unknown refresh token", false)
	}
	tok, refresh := string(newAccessToken()), string(newAccessToken())
	_, _, err := s.Refresher.Refresh(r.Context(), *req.RefreshToken, tok, refresh, s.AccessTokenLifetime)
	if errors.Is(err, account.ErrNotFound) {
		return matrixerr.UnknownToken("unknown refresh token", false)
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{
		"access_token": tok, "refresh_token": refresh, "expires_in_ms": s.AccessTokenLifetime.Milliseconds(),
	})
}
