// Package profile owns users' profiles (display name and avatar URL): it
// reads and changes them in the store and carries a change into the join
// events of the rooms the user is in. The client API, and later the
// federation and admin APIs, go through it.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#profiles
package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// The profile fields Hafen stores.
const (
	DisplayName = "displayname"
	AvatarURL   = "avatar_url"
)

// Limits on profile values; the spec lets servers limit each field.
const (
	maxDisplayNameBytes = 256
	maxAvatarURLBytes   = 1024
)

// Profile is a user's profile: field name → value, only the fields set.
type Profile map[string]string

// Rooms is the event path a profile change is announced through.
// room.Service implements it.
type Rooms interface {
	ChangeMembership(ctx context.Context, roomID id.RoomID, c room.MembershipChange) (*event.PDU, error)
	CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (*event.PDU, error)
}

// Service reads and changes local users' profiles. It is safe for
// concurrent use.
type Service struct {
	// ServerName is the homeserver's name; only its users have profiles
	// here.
	ServerName id.ServerName
	// DB holds the profiles (the users table).
	DB *store.DB
	// Rooms receives the new join events of a changed profile.
	Rooms Rooms
	// Logger reports rooms that refused a profile update; nil discards.
	Logger *slog.Logger
	// Remote asks other servers for their users' profiles; nil answers
	// ErrNotFound for them.
	Remote RemoteProfiles
	// RoomInterval is the pause between two rooms' new join events when
	// a change is carried into the user's rooms (0: none).
	RoomInterval time.Duration

	wakeOnce sync.Once
	wake     chan struct{} // wakes Run after a change
	drainMu  sync.Mutex    // one Drain at a time
}

// RemoteProfiles queries other servers' users' profiles over federation
// (*fedjoin.Service). Get answers any of its errors as ErrNotFound.
type RemoteProfiles interface {
	QueryProfile(ctx context.Context, user id.UserID) (map[string]string, error)
	QueryProfileFields(ctx context.Context, user id.UserID) (map[string]json.RawMessage, error)
}

// fields returns the profile fields a user has set.
func fields(u store.User) Profile {
	p := Profile{}
	if u.DisplayName != "" {
		p[DisplayName] = u.DisplayName
	}
	if u.AvatarURL != "" {
		p[AvatarURL] = u.AvatarURL
	}
	return p
}

// Get returns the profile of a user: ErrNotFound for unknown users. Other
// servers' users' profiles are asked of their servers (Remote); a server
// that cannot be asked is answered as ErrNotFound too. A deactivated account keeps its profile unless
// its owner asked for erasure, which clears it.
func (s *Service) Get(ctx context.Context, user id.UserID) (Profile, error) {
	if !strings.EqualFold(string(user.Domain()), string(s.ServerName)) {
		if s.Remote == nil {
			return nil, ErrNotFound
		}
		p, err := s.Remote.QueryProfile(ctx, user)
		if err != nil {
			// NOTSPEC: a server that cannot be asked is answered like an
			// unknown user (the spec names no other error).
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return Profile(p), nil
	}
	u, err := s.DB.User(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load profile of %s: %w", user, err)
	}
	return fields(u), nil
}

// ForJoin returns the profile a user's join event carries: empty for
// users without a stored profile.
func (s *Service) ForJoin(ctx context.Context, user id.UserID) (Profile, error) {
	u, err := s.DB.User(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load profile of %s: %w", user, err)
	}
	return fields(u), nil
}

// Check validates a value of a field Hafen stores: ErrNotStored for other
// fields, ErrTooLarge or ErrInvalid for bad values (a NUL in either,
// which a client could not show). An empty value (removal) is always
// valid.
func Check(key, val string) error {
	if (key == DisplayName || key == AvatarURL) && strings.ContainsRune(val, 0) {
		return fmt.Errorf("%w: %s holds a NUL character", ErrInvalid, key)
	}
	switch key {
	case DisplayName:
		if len(val) > maxDisplayNameBytes {
			return fmt.Errorf("%w: displayname is longer than %d bytes", ErrTooLarge, maxDisplayNameBytes)
		}
	case AvatarURL:
		if len(val) > maxAvatarURLBytes {
			return fmt.Errorf("%w: avatar_url is longer than %d bytes", ErrTooLarge, maxAvatarURLBytes)
		}
		if val != "" && !strings.HasPrefix(val, "mxc://") {
			return fmt.Errorf("%w: avatar_url must be an mxc:// URI", ErrInvalid)
		}
	default:
		return ErrNotStored
	}
	return nil
}

// Set stores one field of a local user's profile ("" removes it) and
// queues, in the same transaction, the new join events carrying it to the
// user's rooms; Run sends them in the background, room by room. A room
// that refuses the update (for example because the user may not change
// their membership event there) keeps the old one.
func (s *Service) Set(ctx context.Context, user id.UserID, key, val string) error {
	if err := Check(key, val); err != nil {
		return err
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		if val != "" {
			f, err := s.localFields(ctx, tx, user)
			if err != nil {
				return err
			}
			f[key], _ = json.Marshal(val)
			if f.size() > MaxProfileBytes {
				return ErrProfileTooLarge
			}
		}
		var err error
		if key == DisplayName {
			err = tx.SetDisplayName(ctx, user, val)
		} else {
			err = tx.SetAvatarURL(ctx, user, val)
		}
		if err != nil {
			return err
		}
		return tx.QueueProfileUpdate(ctx, user)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store %s of %s: %w", key, user, err)
	}
	s.notify()
	return nil
}
