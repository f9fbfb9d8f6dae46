package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Kinds of short-lived tokens.
const (
	kindOpenID = store.ShortTokenOpenID
	kindLogin  = store.ShortTokenLogin
)

// OpenIDTokenLifetime is how long an OpenID token is valid.
const OpenIDTokenLifetime = time.Hour

// newShortToken returns a random token.
func newShortToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) createShortToken(ctx context.Context, kind string, user id.UserID, lifetime time.Duration) (string, error) {
	tok := newShortToken()
	now := s.now()
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.AddShortToken(ctx, kind, tok, user, now.Add(lifetime).UnixMilli(), now.UnixMilli())
	})
	if err != nil {
		return "", fmt.Errorf("create %s token: %w", kind, err)
	}
	return tok, nil
}

// CreateOpenIDToken gives the user a new OpenID token, valid for
// OpenIDTokenLifetime, that a third party exchanges for the user's ID
// over federation (/openid/userinfo).
func (s *Service) CreateOpenIDToken(ctx context.Context, user id.UserID) (string, time.Duration, error) {
	tok, err := s.createShortToken(ctx, kindOpenID, user, OpenIDTokenLifetime)
	return tok, OpenIDTokenLifetime, err
}

// OpenIDTokenOwner returns the user of an OpenID token that has not
// expired, or ErrNotFound; deactivation revokes an account's tokens.
func (s *Service) OpenIDTokenOwner(ctx context.Context, token string) (id.UserID, error) {
	user, err := s.DB.ShortTokenOwner(ctx, kindOpenID, token, s.nowMS())
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNotFound
	}
	return user, err
}

// CreateLoginToken gives the user a login token (m.login.token), valid
// once for lifetime.
func (s *Service) CreateLoginToken(ctx context.Context, user id.UserID, lifetime time.Duration) (string, error) {
	return s.createShortToken(ctx, kindLogin, user, lifetime)
}

// UseLoginToken spends a login token and returns its user: ErrNotFound
// when it is unknown, used or expired.
func (s *Service) UseLoginToken(ctx context.Context, token string) (id.UserID, error) {
	var user id.UserID
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		user, err = tx.UseShortToken(ctx, kindLogin, token, s.nowMS())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("use login token: %w", err)
	}
	return user, nil
}

// CreateRefreshableToken stores an access token for the device that
// expires after lifetime, with the refresh token that renews it,
// replacing the device's earlier tokens.
func (s *Service) CreateRefreshableToken(ctx context.Context, token, refresh string, userID id.UserID, deviceID id.DeviceID, lifetime time.Duration) error {
	defer s.tokens.forgetUser(userID) // the device's earlier tokens are revoked
	now := s.now()
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.AddExpiringAccessToken(ctx, token, refresh, userID, deviceID, now.UnixMilli(), now.Add(lifetime).UnixMilli())
	}))
}

// Refresh spends a refresh token for a new access token (valid for
// lifetime) and refresh token of the same device, and returns the
// device's user: ErrNotFound for an unknown or revoked refresh token.
func (s *Service) Refresh(ctx context.Context, old, token, refresh string, lifetime time.Duration) (id.UserID, id.DeviceID, error) {
	now := s.now()
	var user id.UserID
	var device id.DeviceID
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		user, device, err = tx.RotateRefreshToken(ctx, old, token, refresh, now.UnixMilli(), now.Add(lifetime).UnixMilli())
		return err
	})
	if err != nil {
		return "", "", mapErr(err)
	}
	s.tokens.forgetUser(user) // the device's earlier access token is revoked
	return user, device, nil
}
