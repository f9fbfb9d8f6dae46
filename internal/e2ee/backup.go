package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Server-side key backups: the server stores the encrypted room keys and
// never reads them; it only keeps the best key per session.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-key-backups

// BackupInfo describes a backup version.
type BackupInfo struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count"`
	Etag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// BackupKeyData is the spec's KeyBackupData.
type BackupKeyData struct {
	FirstMessageIndex int64           `json:"first_message_index"`
	ForwardedCount    int64           `json:"forwarded_count"`
	IsVerified        bool            `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// BackupKeys maps room → session → key.
type BackupKeys map[id.RoomID]map[string]BackupKeyData

// parseVersion reads a version the server handed out; other strings name
// no version.
func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != v {
		return 0, fmt.Errorf("%w: %q", ErrBackupNotFound, v)
	}
	return n, nil
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// CreateBackup creates a new backup version, which becomes the current
// one, and returns its version.
func (s *Service) CreateBackup(ctx context.Context, user id.UserID, algorithm string, authData json.RawMessage) (string, error) {
	if !ValidAlgorithm(algorithm) {
		return "", fmt.Errorf("%w: malformed algorithm %q", ErrInvalid, algorithm)
	}
	if !isObject(authData) {
		return "", fmt.Errorf("%w: auth_data must be an object", ErrInvalid)
	}
	var v int64
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		v, err = tx.CreateBackupVersion(ctx, user, algorithm, authData)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create key backup of %s: %w", user, err)
	}
	return strconv.FormatInt(v, 10), nil
}

// Backup describes a backup version of the user, or the current one when
// version is "". It returns ErrBackupNotFound for a version that does not
// exist or was deleted.
func (s *Service) Backup(ctx context.Context, user id.UserID, version string) (BackupInfo, error) {
	var v store.BackupVersion
	var err error
	if version == "" {
		v, err = s.DB.LatestBackupVersion(ctx, user)
	} else {
		var n int64
		if n, err = parseVersion(version); err != nil {
			return BackupInfo{}, err
		}
		v, err = s.DB.BackupVersionOf(ctx, user, n)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && v.Deleted) {
		return BackupInfo{}, fmt.Errorf("%w: %q", ErrBackupNotFound, version)
	}
	if err != nil {
		return BackupInfo{}, err
	}
	count, err := s.DB.BackupKeyCount(ctx, user, v.Version)
	if err != nil {
		return BackupInfo{}, err
	}
	return BackupInfo{
		Algorithm: v.Algorithm, AuthData: v.AuthData, Count: count,
		Etag: strconv.FormatInt(v.Etag, 10), Version: strconv.FormatInt(v.Version, 10),
	}, nil
}

// UpdateBackup replaces the auth_data of a backup version; the algorithm
// must stay the same and bodyVersion, if not "", must be the version.
func (s *Service) UpdateBackup(ctx context.Context, user id.UserID, version, bodyVersion, algorithm string, authData json.RawMessage) error {
	n, err := parseVersion(version)
	if err != nil {
		return err
	}
	if bodyVersion != "" && bodyVersion != version {
		return fmt.Errorf("%w: version %q in the body is not %q", ErrInvalid, bodyVersion, version)
	}
	if !isObject(authData) {
		return fmt.Errorf("%w: auth_data must be an object", ErrInvalid)
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		v, err := tx.BackupVersionOf(ctx, user, n)
		if errors.Is(err, store.ErrNotFound) || (err == nil && v.Deleted) {
			return fmt.Errorf("%w: %q", ErrBackupNotFound, version)
		}
		if err != nil {
			return err
		}
		if v.Algorithm != algorithm {
			return fmt.Errorf("%w: algorithm %q does not match the backup's", ErrInvalid, algorithm)
		}
		return tx.SetBackupAuthData(ctx, user, n, authData)
	})
}

// DeleteBackup deletes a backup version and its keys. Deleting a deleted
// version succeeds; an unknown one is ErrBackupNotFound.
func (s *Service) DeleteBackup(ctx context.Context, user id.UserID, version string) error {
	n, err := parseVersion(version)
	if err != nil {
		return err
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.BackupVersionOf(ctx, user, n); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: %q", ErrBackupNotFound, version)
			}
			return err
		}
		return tx.DeleteBackupVersion(ctx, user, n)
	})
}

// shouldReplace applies the spec's rules for a key uploaded for a session
// the backup already holds a key of: the verified key wins, then the one
// with the lower first_message_index, then the one with the lower
// forwarded_count; on a tie the stored key stays.
func shouldReplace(old store.BackupKey, k BackupKeyData) bool {
	if old.IsVerified != k.IsVerified {
		return k.IsVerified
	}
	if old.FirstMessageIndex != k.FirstMessageIndex {
		return k.FirstMessageIndex < old.FirstMessageIndex
	}
	return k.ForwardedCount < old.ForwardedCount
}

// PutBackupKeys stores keys in the user's current backup version (the
// version must be it: else a *WrongBackupVersionError, or
// ErrBackupNotFound when the user has none), keeping per session the key
// the replacement rules prefer. It returns the backup's etag and count.
func (s *Service) PutBackupKeys(ctx context.Context, user id.UserID, version string, keys BackupKeys) (etag string, count int64, err error) {
	for room, sessions := range keys {
		if _, err := id.ParseRoomID(string(room)); err != nil {
			return "", 0, fmt.Errorf("%w: %q is not a room ID", ErrInvalid, room)
		}
		for sess, k := range sessions {
			if sess == "" || !isObject(k.SessionData) || k.FirstMessageIndex < 0 || k.ForwardedCount < 0 {
				return "", 0, fmt.Errorf("%w: key of session %q in %s is not KeyBackupData", ErrInvalid, sess, room)
			}
		}
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.LatestBackupVersion(ctx, user)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: the user has no backup", ErrBackupNotFound)
		}
		if err != nil {
			return err
		}
		if strconv.FormatInt(cur.Version, 10) != version {
			return &WrongBackupVersionError{Current: strconv.FormatInt(cur.Version, 10)}
		}
		changed := false
		for room, sessions := range keys {
			for sess, k := range sessions {
				old, err := tx.BackupKeyOf(ctx, user, cur.Version, room, sess)
				if err == nil && !shouldReplace(old, k) {
					continue
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				err = tx.PutBackupKey(ctx, user, cur.Version, store.BackupKey{
					RoomID: room, SessionID: sess, FirstMessageIndex: k.FirstMessageIndex,
					ForwardedCount: k.ForwardedCount, IsVerified: k.IsVerified, SessionData: k.SessionData,
				})
				if err != nil {
					return err
				}
				changed = true
			}
		}
		e := cur.Etag
		if changed {
			if err := tx.BumpBackupEtag(ctx, user, cur.Version); err != nil {
				return err
			}
			e++
		}
		etag = strconv.FormatInt(e, 10)
		count, err = tx.BackupKeyCount(ctx, user, cur.Version)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("store backed up keys of %s: %w", user, err)
	}
	return etag, count, nil
}

// existingVersion returns the number of a version of the user that exists
// and is not deleted.
func existingVersion(ctx context.Context, r interface {
	BackupVersionOf(context.Context, id.UserID, int64) (store.BackupVersion, error)
}, user id.UserID, version string) (int64, error) {
	n, err := parseVersion(version)
	if err != nil {
		return 0, err
	}
	v, err := r.BackupVersionOf(ctx, user, n)
	if errors.Is(err, store.ErrNotFound) || (err == nil && v.Deleted) {
		return 0, fmt.Errorf("%w: %q", ErrBackupNotFound, version)
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// GetBackupKeys returns keys of a backup version: of all rooms (room ""),
// of one room (session ""), or one key (ErrKeyNotFound if absent).
func (s *Service) GetBackupKeys(ctx context.Context, user id.UserID, version string, room id.RoomID, session string) (BackupKeys, error) {
	n, err := existingVersion(ctx, s.DB, user, version)
	if err != nil {
		return nil, err
	}
	out := BackupKeys{}
	var ks []store.BackupKey
	if session != "" {
		k, err := s.DB.BackupKeyOf(ctx, user, n, room, session)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s %s", ErrKeyNotFound, room, session)
		}
		if err != nil {
			return nil, err
		}
		ks = []store.BackupKey{k}
	} else if ks, err = s.DB.BackupKeys(ctx, user, n, room); err != nil {
		return nil, err
	}
	for _, k := range ks {
		if out[k.RoomID] == nil {
			out[k.RoomID] = map[string]BackupKeyData{}
		}
		out[k.RoomID][k.SessionID] = BackupKeyData{
			FirstMessageIndex: k.FirstMessageIndex, ForwardedCount: k.ForwardedCount,
			IsVerified: k.IsVerified, SessionData: k.SessionData,
		}
	}
	return out, nil
}

// DeleteBackupKeys deletes keys of a backup version: all (room ""), those
// of a room (session ""), or one; it returns the backup's etag and count.
func (s *Service) DeleteBackupKeys(ctx context.Context, user id.UserID, version string, room id.RoomID, session string) (etag string, count int64, err error) {
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		n, err := existingVersion(ctx, tx, user, version)
		if err != nil {
			return err
		}
		deleted, err := tx.DeleteBackupKeys(ctx, user, n, room, session)
		if err != nil {
			return err
		}
		if deleted > 0 {
			if err := tx.BumpBackupEtag(ctx, user, n); err != nil {
				return err
			}
		}
		v, err := tx.BackupVersionOf(ctx, user, n)
		if err != nil {
			return err
		}
		etag = strconv.FormatInt(v.Etag, 10)
		count, err = tx.BackupKeyCount(ctx, user, n)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("delete backed up keys of %s: %w", user, err)
	}
	return etag, count, nil
}
