package clientapi

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// The operations below serve the command line (hafen user …); they apply
// the same rules as the HTTP endpoints.

// CreateAccount creates a local account with the given localpart and
// password, as `hafen user create` does. It fails with the same errors as
// registration (M_INVALID_USERNAME, M_USER_IN_USE, …).
func (s *Server) CreateAccount(ctx context.Context, localpart string, password Password, admin bool) (id.UserID, error) {
	userID, err := s.availableUserID(ctx, localpart)
	if err != nil {
		return "", err
	}
	hash, err := HashPassword(password, s.BcryptCost)
	if err != nil {
		return "", err
	}
	if err := s.createUser(ctx, userID, hash, admin); err != nil {
		return "", err
	}
	return userID, nil
}

// ResetPassword sets a new password for a local user and logs out all of
// its devices, as `hafen user reset-password` does.
func (s *Server) ResetPassword(ctx context.Context, user string, password Password) (id.UserID, error) {
	userID, err := s.localUserID(user)
	if err != nil {
		return "", err
	}
	exists, err := s.Store.UserExists(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("check user: %w", err)
	}
	if !exists {
		return "", matrixerr.NotFound("no such user")
	}
	hash, err := HashPassword(password, s.BcryptCost)
	if err != nil {
		return "", err
	}
	if err := s.Store.SetPassword(ctx, userID, hash, true, ""); err != nil {
		return "", fmt.Errorf("set password and log out devices: %w", err)
	}
	return userID, nil
}
