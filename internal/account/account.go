// Package account owns local accounts: users and their passwords,
// devices, access tokens, registration tokens and User-Interactive
// Authentication sessions. It maps each one-call operation of the account
// endpoints (and of `hafen user`, and later the admin API) onto the
// store's reads and write transactions, and the store's sentinel errors
// onto its own.
//
// It holds no SQL (every statement lives in store) and one piece of state:
// a short-lived cache of access tokens, so that most authenticated
// requests need no database read.
package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Service is the account service over a store.DB. It implements
// clientapi.AccountStore.
type Service struct {
	DB *store.DB
	// Now is the clock for creation times; nil means time.Now.
	Now func() time.Time
	// DevicesRemoved, if set, is called after a write that may have
	// removed devices of the user, so that what caches them (the
	// end-to-end encryption keys) forgets them.
	DevicesRemoved func(userID id.UserID)

	tokens tokenCache
	seen   lastSeen
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// devicesRemoved runs the DevicesRemoved hook.
func (s *Service) devicesRemoved(userID id.UserID) {
	if s.DevicesRemoved != nil {
		s.DevicesRemoved(userID)
	}
}

// Device is a device as the store keeps it.
type Device struct {
	ID          id.DeviceID
	DisplayName string
	LastSeenIP  string
	// LastSeenTS is in milliseconds since the Unix epoch; 0 if unknown.
	LastSeenTS int64
}

// UIASession is one User-Interactive Authentication session: the
// operation it guards and the stages completed so far. Sessions live in
// the database, not in a process, so that every process sharing the
// database can serve any step of a flow.
type UIASession struct {
	// ID is the session ID given to the client.
	ID string
	// Op is the method and path of the guarded request.
	Op string
	// UserID is the authenticated user the session was started for; empty
	// for registration.
	UserID id.UserID
	// Created is when the session was started.
	Created time.Time
	// Completed are the stages completed so far, in order.
	Completed []string
	// RegToken is the registration token the session validated, used up
	// when the account is created.
	RegToken string
}

// mapErr turns the store's sentinels into the package's.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %w", ErrUserExists, err)
	}
	return err
}

// CreateUser creates a local account.
func (s *Service) CreateUser(ctx context.Context, userID id.UserID, passwordHash string, admin bool) error {
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.CreateUser(ctx, store.User{UserID: userID, PasswordHash: passwordHash, IsAdmin: admin, CreatedTS: s.nowMS()})
	}))
}

// CheckAdmin fails with ErrNotAdmin unless userID is a server
// administrator; the admin APIs ask it of every requester.
func (s *Service) CheckAdmin(ctx context.Context, userID id.UserID) error {
	u, err := s.DB.User(ctx, userID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load %s: %w", userID, err)
	}
	if err != nil || !u.IsAdmin {
		return fmt.Errorf("%s: %w", userID, ErrNotAdmin)
	}
	return nil
}

// UserPassword returns the password hash and the deactivated flag.
func (s *Service) UserPassword(ctx context.Context, userID id.UserID) (string, bool, error) {
	u, err := s.DB.User(ctx, userID)
	if err != nil {
		return "", false, mapErr(err)
	}
	return u.PasswordHash, u.Deactivated, nil
}

// UserExists reports whether the user ID is taken.
func (s *Service) UserExists(ctx context.Context, userID id.UserID) (bool, error) {
	_, err := s.DB.User(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SetPassword replaces the password hash and, with logout, removes every
// device of the user but keep (all of them when keep is empty) and their
// access tokens, in one transaction: a new password never leaves the
// devices it was meant to log out.
func (s *Service) SetPassword(ctx context.Context, userID id.UserID, hash string, logout bool, keep id.DeviceID) error {
	if logout {
		defer s.tokens.forgetUser(userID)
		defer s.devicesRemoved(userID)
	}
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SetPasswordHash(ctx, userID, hash); err != nil {
			return err
		}
		if !logout {
			return nil
		}
		return deleteDevicesExcept(ctx, tx, userID, keep)
	}))
}

// DeactivateUser deactivates the account; the store removes its devices
// and tokens, OpenID tokens included.
func (s *Service) DeactivateUser(ctx context.Context, userID id.UserID) error {
	defer s.devicesRemoved(userID)
	defer s.tokens.forgetUser(userID)
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.DeactivateUser(ctx, userID)
	}))
}

// CreateDevice creates the device unless it exists.
func (s *Service) CreateDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID, displayName string) (bool, error) {
	created := false
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Device(ctx, userID, deviceID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		created = true
		return tx.CreateDevice(ctx, store.Device{UserID: userID, DeviceID: deviceID, DisplayName: displayName, CreatedTS: s.nowMS()})
	})
	return created, mapErr(err)
}

func toDevice(d store.Device) Device {
	return Device{ID: d.DeviceID, DisplayName: d.DisplayName, LastSeenIP: d.LastSeenIP, LastSeenTS: d.LastSeenTS}
}

// Device returns one device.
func (s *Service) Device(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (Device, error) {
	d, err := s.DB.Device(ctx, userID, deviceID)
	if err != nil {
		return Device{}, mapErr(err)
	}
	return toDevice(d), nil
}

// Devices returns all devices of the user.
func (s *Service) Devices(ctx context.Context, userID id.UserID) ([]Device, error) {
	ds, err := s.DB.Devices(ctx, userID)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]Device, len(ds))
	for i, d := range ds {
		out[i] = toDevice(d)
	}
	return out, nil
}

// SetDeviceDisplayName renames a device.
func (s *Service) SetDeviceDisplayName(ctx context.Context, userID id.UserID, deviceID id.DeviceID, name string) error {
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetDeviceDisplayName(ctx, userID, deviceID, name)
	}))
}

// DeleteDevices removes devices (their tokens go with them); unknown IDs
// are ignored.
func (s *Service) DeleteDevices(ctx context.Context, userID id.UserID, deviceIDs []id.DeviceID) error {
	defer s.devicesRemoved(userID)
	defer s.tokens.forgetUser(userID)
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		for _, d := range deviceIDs {
			if err := tx.DeleteDevice(ctx, userID, d); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	}))
}

// DeleteDevicesExcept removes every device of the user but keep.
func (s *Service) DeleteDevicesExcept(ctx context.Context, userID id.UserID, keep id.DeviceID) error {
	defer s.devicesRemoved(userID)
	defer s.tokens.forgetUser(userID)
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		return deleteDevicesExcept(ctx, tx, userID, keep)
	}))
}

// deleteDevicesExcept removes every device of the user but keep, in tx.
func deleteDevicesExcept(ctx context.Context, tx *store.Tx, userID id.UserID, keep id.DeviceID) error {
	ds, err := tx.Devices(ctx, userID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.DeviceID == keep {
			continue
		}
		if err := tx.DeleteDevice(ctx, userID, d.DeviceID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// CreateAccessToken stores a new token for the device and revokes the
// device's earlier tokens in the same transaction.
func (s *Service) CreateAccessToken(ctx context.Context, token string, userID id.UserID, deviceID id.DeviceID) error {
	defer s.tokens.forgetUser(userID) // the device's earlier tokens are revoked
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteDeviceAccessTokens(ctx, userID, deviceID); err != nil {
			return err
		}
		if err := tx.DeleteDeviceRefreshTokens(ctx, userID, deviceID); err != nil {
			return err
		}
		return tx.AddAccessToken(ctx, token, userID, deviceID, s.nowMS())
	}))
}

// AccessTokenOwner resolves a token, from the cache when it can.
func (s *Service) AccessTokenOwner(ctx context.Context, token string) (id.UserID, id.DeviceID, error) {
	now := s.now()
	if e, ok := s.tokens.get(token, now); ok {
		return e.userID, e.deviceID, nil
	}
	gen := s.tokens.generation()
	t, err := s.DB.AccessTokenOwner(ctx, token)
	if err != nil {
		return "", "", mapErr(err)
	}
	var expires time.Time
	if t.ExpiresTS > 0 {
		expires = time.UnixMilli(t.ExpiresTS)
		if !now.Before(expires) {
			return "", "", ErrTokenExpired
		}
	}
	if t.RevokesRefresh {
		// The first use of a refreshed access token revokes the refresh
		// token it replaced (spec v1.3 § Refreshing access tokens).
		if err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.AccessTokenFirstUsed(ctx, token) }); err != nil {
			return "", "", fmt.Errorf("first use of a refreshed access token: %w", err)
		}
	}
	s.tokens.put(token, t.UserID, t.DeviceID, now, gen, expires)
	return t.UserID, t.DeviceID, nil
}

// RegistrationTokenValid reports whether the token can be used at now.
func (s *Service) RegistrationTokenValid(ctx context.Context, token string, now time.Time) (bool, error) {
	rt, err := s.DB.RegistrationToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rt.Valid(now.UnixMilli()), nil
}

// UseRegistrationToken counts one completed use of the token.
func (s *Service) UseRegistrationToken(ctx context.Context, token string, now time.Time) error {
	return mapErr(s.DB.Write(ctx, func(tx *store.Tx) error {
		ok, err := tx.ReserveRegistrationToken(ctx, token, now.UnixMilli())
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("registration token: %w", store.ErrNotFound)
		}
		return tx.CompleteRegistrationToken(ctx, token)
	}))
}
