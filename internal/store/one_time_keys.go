package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// one_time_keys holds the one-time keys devices published, each handed out
// at most once by /keys/claim (which deletes it).
const oneTimeKeysSchema = `
CREATE TABLE one_time_keys (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	key_json  TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, algorithm, key_id),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
)`

// oneTimeKeysUploadOrderSchema numbers each device's one-time keys in the
// order they were uploaded, which is the order /keys/claim hands them out
// in (spec v1.13, MSC4225). Keys stored before it count as the oldest.
const oneTimeKeysUploadOrderSchema = `
ALTER TABLE one_time_keys ADD COLUMN upload_order BIGINT NOT NULL DEFAULT 0`

// OneTimeKey is a one-time or fallback key of a device.
type OneTimeKey struct {
	// Algorithm is the key's algorithm, e.g. "signed_curve25519".
	Algorithm string
	// KeyID is the part of "algorithm:key_id" after the colon.
	KeyID string
	// KeyJSON is the key as uploaded: a JSON string or a signed object.
	KeyJSON []byte
}

// OneTimeKeyJSON returns the stored JSON of one one-time key, or an error
// wrapping ErrNotFound.
func (r reader) OneTimeKeyJSON(ctx context.Context, userID id.UserID, deviceID id.DeviceID, algorithm, keyID string) ([]byte, error) {
	var js string
	err := r.q.QueryRowContext(ctx, `
		SELECT key_json FROM one_time_keys
		WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4`,
		string(userID), string(deviceID), algorithm, keyID).Scan(&js)
	if err != nil {
		return nil, fmt.Errorf("load one-time key %s:%s of %s %s: %w", algorithm, keyID, userID, deviceID, notFound(err))
	}
	return []byte(js), nil
}

// AddOneTimeKey stores a one-time key of a device after every key it
// already has (upload_order); a key with the same ID already stored is
// left as it is.
func (t *Tx) AddOneTimeKey(ctx context.Context, userID id.UserID, deviceID id.DeviceID, k OneTimeKey) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json, upload_order)
		VALUES ($1, $2, $3, $4, $5, (
			SELECT COALESCE(MAX(upload_order), 0) + 1 FROM one_time_keys WHERE user_id = $1 AND device_id = $2))
		ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`,
		string(userID), string(deviceID), k.Algorithm, k.KeyID, string(k.KeyJSON))
	if err != nil {
		return fmt.Errorf("store one-time key %s:%s of %s %s: %w", k.Algorithm, k.KeyID, userID, deviceID, err)
	}
	return nil
}

// OneTimeKeyCounts returns how many unclaimed one-time keys the device has
// for each algorithm it has any of.
func (r reader) OneTimeKeyCounts(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (map[string]int, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm`,
		string(userID), string(deviceID))
	if err != nil {
		return nil, fmt.Errorf("count one-time keys of %s %s: %w", userID, deviceID, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, fmt.Errorf("count one-time keys of %s %s: %w", userID, deviceID, err)
		}
		out[alg] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count one-time keys of %s %s: %w", userID, deviceID, err)
	}
	return out, nil
}

// ClaimOneTimeKey removes the device's oldest one-time key of the
// algorithm (first uploaded, as the spec orders them since v1.13) and
// returns it; ok is false when the device has none left.
//
// The key is chosen and deleted by one statement, and a key counts as
// claimed only if this statement deleted it: where another transaction
// (another process on PostgreSQL) deleted the same key first, the
// statement deletes nothing and the next key is tried. So no key is ever
// handed out twice.
func (t *Tx) ClaimOneTimeKey(ctx context.Context, userID id.UserID, deviceID id.DeviceID, algorithm string) (k OneTimeKey, ok bool, err error) {
	for {
		var keyID, js string
		err := t.q.QueryRowContext(ctx, `
			DELETE FROM one_time_keys
			WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = (
				SELECT key_id FROM one_time_keys
				WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
				ORDER BY upload_order, key_id LIMIT 1)
			RETURNING key_id, key_json`,
			string(userID), string(deviceID), algorithm).Scan(&keyID, &js)
		if err == nil {
			return OneTimeKey{Algorithm: algorithm, KeyID: keyID, KeyJSON: []byte(js)}, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return OneTimeKey{}, false, fmt.Errorf("claim %s key of %s %s: %w", algorithm, userID, deviceID, err)
		}
		// Nothing deleted: either no key is left, or a concurrent claim
		// took the one chosen.
		var left int
		err = t.q.QueryRowContext(ctx, `
			SELECT COUNT(*) FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3`,
			string(userID), string(deviceID), algorithm).Scan(&left)
		if err != nil {
			return OneTimeKey{}, false, fmt.Errorf("claim %s key of %s %s: %w", algorithm, userID, deviceID, err)
		}
		if left == 0 {
			return OneTimeKey{}, false, nil
		}
	}
}
