package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// key_backup_keys holds the room keys stored in key backups, one per
// (version, room, session), with the metadata the replacement rules
// compare.
const keyBackupKeysSchema = `
CREATE TABLE key_backup_keys (
	user_id             TEXT NOT NULL,
	version             BIGINT NOT NULL,
	room_id             TEXT NOT NULL,
	session_id          TEXT NOT NULL,
	first_message_index BIGINT NOT NULL,
	forwarded_count     BIGINT NOT NULL,
	is_verified         BOOLEAN NOT NULL,
	session_data        TEXT NOT NULL,
	PRIMARY KEY (user_id, version, room_id, session_id),
	FOREIGN KEY (user_id, version) REFERENCES key_backup_versions (user_id, version) ON DELETE CASCADE
)`

// BackupKey is one room key in a key backup.
type BackupKey struct {
	RoomID            id.RoomID
	SessionID         string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	// SessionData is the encrypted key (JSON object).
	SessionData []byte
}

const backupKeyColumns = `room_id, session_id, first_message_index, forwarded_count, is_verified, session_data`

func scanBackupKey(s interface{ Scan(...any) error }) (BackupKey, error) {
	var k BackupKey
	var data string
	if err := s.Scan(&k.RoomID, &k.SessionID, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
		return BackupKey{}, err
	}
	k.SessionData = []byte(data)
	return k, nil
}

// BackupKeyOf returns one key of a backup version, or an error wrapping
// ErrNotFound.
func (r reader) BackupKeyOf(ctx context.Context, userID id.UserID, version int64, roomID id.RoomID, sessionID string) (BackupKey, error) {
	k, err := scanBackupKey(r.q.QueryRowContext(ctx, `
		SELECT `+backupKeyColumns+` FROM key_backup_keys
		WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`,
		string(userID), version, string(roomID), sessionID))
	if err != nil {
		return BackupKey{}, fmt.Errorf("load backed up key %s %s of %s: %w", roomID, sessionID, userID, notFound(err))
	}
	return k, nil
}

// BackupKeys returns the keys of a backup version, of one room or, with
// roomID "", of all rooms.
func (r reader) BackupKeys(ctx context.Context, userID id.UserID, version int64, roomID id.RoomID) ([]BackupKey, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT `+backupKeyColumns+` FROM key_backup_keys
		WHERE user_id = $1 AND version = $2 AND ($3 = '' OR room_id = $3)
		ORDER BY room_id, session_id`, string(userID), version, string(roomID))
	if err != nil {
		return nil, fmt.Errorf("load backed up keys of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []BackupKey
	for rows.Next() {
		k, err := scanBackupKey(rows)
		if err != nil {
			return nil, fmt.Errorf("load backed up keys of %s: %w", userID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load backed up keys of %s: %w", userID, err)
	}
	return out, nil
}

// BackupKeyCount returns how many keys a backup version holds.
func (r reader) BackupKeyCount(ctx context.Context, userID id.UserID, version int64) (int64, error) {
	var n int64
	err := r.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2`,
		string(userID), version).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count backed up keys of %s: %w", userID, err)
	}
	return n, nil
}

// PutBackupKey stores (or replaces) a key of a backup version.
func (t *Tx) PutBackupKey(ctx context.Context, userID id.UserID, version int64, k BackupKey) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO key_backup_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
			first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
			is_verified = excluded.is_verified, session_data = excluded.session_data`,
		string(userID), version, string(k.RoomID), k.SessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData))
	if err != nil {
		return fmt.Errorf("store backed up key %s %s of %s: %w", k.RoomID, k.SessionID, userID, err)
	}
	return nil
}

// DeleteBackupKeys deletes keys of a backup version: all of them (roomID
// ""), those of a room (sessionID ""), or one. It returns how many it
// deleted.
func (t *Tx) DeleteBackupKeys(ctx context.Context, userID id.UserID, version int64, roomID id.RoomID, sessionID string) (int64, error) {
	res, err := t.q.ExecContext(ctx, `
		DELETE FROM key_backup_keys WHERE user_id = $1 AND version = $2
		AND ($3 = '' OR room_id = $3) AND ($4 = '' OR session_id = $4)`,
		string(userID), version, string(roomID), sessionID)
	if err != nil {
		return 0, fmt.Errorf("delete backed up keys of %s: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete backed up keys of %s: %w", userID, err)
	}
	return n, nil
}
