package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// key_backup_versions holds users' server-side key backups. Versions count
// up from 1 per user and are never reused: a deleted version keeps its
// row, marked deleted, without keys. etag counts the changes to the
// version's keys.
const keyBackupVersionsSchema = `
CREATE TABLE key_backup_versions (
	user_id   TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	version   BIGINT NOT NULL,
	algorithm TEXT NOT NULL,
	auth_data TEXT NOT NULL,
	etag      BIGINT NOT NULL DEFAULT 0,
	deleted   BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (user_id, version)
)`

// BackupVersion is one key backup version of a user.
type BackupVersion struct {
	Version   int64
	Algorithm string
	// AuthData is the version's auth_data object (JSON).
	AuthData []byte
	Etag     int64
	Deleted  bool
}

const backupVersionColumns = `version, algorithm, auth_data, etag, deleted`

func scanBackupVersion(s interface{ Scan(...any) error }) (BackupVersion, error) {
	var v BackupVersion
	var auth string
	if err := s.Scan(&v.Version, &v.Algorithm, &auth, &v.Etag, &v.Deleted); err != nil {
		return BackupVersion{}, err
	}
	v.AuthData = []byte(auth)
	return v, nil
}

// CreateBackupVersion adds a key backup version for a local user and
// returns its number, one more than the user's last. It returns an error
// wrapping ErrNotFound if the user does not exist.
func (t *Tx) CreateBackupVersion(ctx context.Context, userID id.UserID, algorithm string, authData []byte) (int64, error) {
	// As in AddFilter, the user's row lock serializes allocations.
	var locked string
	err := t.q.QueryRowContext(ctx, `SELECT user_id FROM users WHERE user_id = $1`+t.d.forUpdate(), string(userID)).Scan(&locked)
	if err != nil {
		return 0, fmt.Errorf("create key backup of %s: %w", userID, notFound(err))
	}
	var version int64
	err = t.q.QueryRowContext(ctx, `
		INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data)
		SELECT $1, COALESCE(MAX(version) + 1, 1), $2, $3 FROM key_backup_versions WHERE user_id = $1
		RETURNING version`, string(userID), algorithm, string(authData)).Scan(&version)
	if err != nil {
		return 0, fmt.Errorf("create key backup of %s: %w", userID, err)
	}
	return version, nil
}

// BackupVersionOf returns one key backup version of the user (deleted
// ones included), or an error wrapping ErrNotFound.
func (r reader) BackupVersionOf(ctx context.Context, userID id.UserID, version int64) (BackupVersion, error) {
	v, err := scanBackupVersion(r.q.QueryRowContext(ctx,
		`SELECT `+backupVersionColumns+` FROM key_backup_versions WHERE user_id = $1 AND version = $2`,
		string(userID), version))
	if err != nil {
		return BackupVersion{}, fmt.Errorf("load key backup %d of %s: %w", version, userID, notFound(err))
	}
	return v, nil
}

// LatestBackupVersion returns the user's most recent key backup version
// that is not deleted, or an error wrapping ErrNotFound.
func (r reader) LatestBackupVersion(ctx context.Context, userID id.UserID) (BackupVersion, error) {
	v, err := scanBackupVersion(r.q.QueryRowContext(ctx, `
		SELECT `+backupVersionColumns+` FROM key_backup_versions
		WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`, string(userID)))
	if err != nil {
		return BackupVersion{}, fmt.Errorf("load latest key backup of %s: %w", userID, notFound(err))
	}
	return v, nil
}

// SetBackupAuthData replaces the auth_data of a key backup version.
func (t *Tx) SetBackupAuthData(ctx context.Context, userID id.UserID, version int64, authData []byte) error {
	res, err := t.q.ExecContext(ctx, `
		UPDATE key_backup_versions SET auth_data = $1 WHERE user_id = $2 AND version = $3 AND NOT deleted`,
		string(authData), string(userID), version)
	if err != nil {
		return fmt.Errorf("update key backup %d of %s: %w", version, userID, err)
	}
	return expectRow(res, fmt.Sprintf("key backup %d of %s", version, userID))
}

// DeleteBackupVersion marks a key backup version deleted and removes its
// keys.
func (t *Tx) DeleteBackupVersion(ctx context.Context, userID id.UserID, version int64) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM key_backup_keys WHERE user_id = $1 AND version = $2`, string(userID), version); err != nil {
		return fmt.Errorf("delete keys of key backup %d of %s: %w", version, userID, err)
	}
	if _, err := t.q.ExecContext(ctx, `UPDATE key_backup_versions SET deleted = TRUE WHERE user_id = $1 AND version = $2`, string(userID), version); err != nil {
		return fmt.Errorf("delete key backup %d of %s: %w", version, userID, err)
	}
	return nil
}

// BumpBackupEtag counts a change to the keys of a backup version.
func (t *Tx) BumpBackupEtag(ctx context.Context, userID id.UserID, version int64) error {
	_, err := t.q.ExecContext(ctx, `UPDATE key_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`, string(userID), version)
	if err != nil {
		return fmt.Errorf("update etag of key backup %d of %s: %w", version, userID, err)
	}
	return nil
}
