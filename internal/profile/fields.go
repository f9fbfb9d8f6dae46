package profile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Extended profile fields (spec v1.16): any namespaced key besides
// displayname and avatar_url, with any JSON value.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#profiles

// TimeZone is the m.tz field: an IANA time zone identifier.
const TimeZone = "m.tz"

// MaxProfileBytes is the largest a whole profile may be, encoded as a JSON
// object: the spec requires under 64 KiB.
const MaxProfileBytes = 64 << 10

// ErrProfileTooLarge: storing the value would make the whole profile
// larger than MaxProfileBytes.
var ErrProfileTooLarge = errors.New("the profile would exceed 64 KiB")

// Fields is a whole profile: field name → JSON value.
type Fields map[string]json.RawMessage

// size returns the length of the profile encoded as a JSON object.
func (f Fields) size() int {
	b, err := json.Marshal(map[string]json.RawMessage(f))
	if err != nil {
		return MaxProfileBytes + 1
	}
	return len(b)
}

// AllFields returns every field of a user's profile: ErrNotFound for
// unknown users. Other servers' users' profiles are asked of their
// servers.
func (s *Service) AllFields(ctx context.Context, user id.UserID) (Fields, error) {
	if !s.isLocal(user) {
		if s.Remote == nil {
			return nil, ErrNotFound
		}
		f, err := s.Remote.QueryProfileFields(ctx, user)
		if err != nil {
			// NOTSPEC: a server that cannot be asked is answered like an
			// unknown user (the spec names no other error).
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		for _, k := range []string{DisplayName, AvatarURL} {
			// Servers send null for unset fields.
			if v, ok := f[k]; ok && string(v) == "null" {
				delete(f, k)
			}
		}
		return f, nil
	}
	return s.localFields(ctx, s.DB, user)
}

// fieldReader is what localFields reads: *store.DB or *store.Tx.
type fieldReader interface {
	User(ctx context.Context, user id.UserID) (store.User, error)
	ProfileFields(ctx context.Context, user id.UserID) (map[string]json.RawMessage, error)
}

// localFields reads a local user's whole profile.
func (s *Service) localFields(ctx context.Context, r fieldReader, user id.UserID) (Fields, error) {
	u, err := r.User(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load profile of %s: %w", user, err)
	}
	f, err := r.ProfileFields(ctx, user)
	if err != nil {
		return nil, err
	}
	for k, v := range stringFields(fields(u)) {
		f[k] = v
	}
	return f, nil
}

// stringFields encodes a profile of string fields.
func stringFields(p Profile) Fields {
	f := Fields{}
	for k, v := range p {
		b, _ := json.Marshal(v)
		f[k] = b
	}
	return f
}

// isLocal reports whether user belongs to this server.
func (s *Service) isLocal(user id.UserID) bool {
	return strings.EqualFold(string(user.Domain()), string(s.ServerName))
}

// SetField stores one field of a local user's profile. displayname and
// avatar_url must be strings and go through Set (which carries them into
// the user's rooms); m.tz must be an IANA time zone identifier; other
// keys take any JSON value, null included. ErrProfileTooLarge if the
// whole profile would exceed MaxProfileBytes, ErrInvalid for a value of
// the wrong type or an unknown time zone.
func (s *Service) SetField(ctx context.Context, user id.UserID, key string, val json.RawMessage) error {
	if key == DisplayName || key == AvatarURL || key == TimeZone {
		var str string
		if err := json.Unmarshal(val, &str); err != nil {
			return fmt.Errorf("%w: %s must be a string", ErrInvalid, key)
		}
		if key != TimeZone {
			return s.Set(ctx, user, key, str)
		}
		if !validTimeZone(str) {
			return fmt.Errorf("%w: m.tz %q is not an IANA time zone identifier", ErrInvalid, str)
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, val); err != nil {
		return fmt.Errorf("%w: %s is not JSON", ErrInvalid, key)
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		f, err := s.localFields(ctx, tx, user)
		if err != nil {
			return err
		}
		f[key] = compact.Bytes()
		if f.size() > MaxProfileBytes {
			return ErrProfileTooLarge
		}
		return tx.SetProfileField(ctx, user, key, compact.Bytes())
	})
	if err != nil {
		return fmt.Errorf("store %s of %s: %w", key, user, err)
	}
	return nil
}

// DeleteField removes one field of a local user's profile (deleting an
// absent field succeeds).
func (s *Service) DeleteField(ctx context.Context, user id.UserID, key string) error {
	if key == DisplayName || key == AvatarURL {
		return s.Set(ctx, user, key, "")
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.User(ctx, user); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrNotFound
			}
			return err
		}
		return tx.DeleteProfileField(ctx, user, key)
	})
	if err != nil {
		return fmt.Errorf("delete %s of %s: %w", key, user, err)
	}
	return nil
}
