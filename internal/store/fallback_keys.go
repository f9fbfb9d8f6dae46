package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// fallback_keys holds each device's fallback key per algorithm, handed out
// by /keys/claim when the device has no one-time key left. A key is
// "unused" until it is first handed out.
const fallbackKeysSchema = `
CREATE TABLE fallback_keys (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	key_json  TEXT NOT NULL,
	used      BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (user_id, device_id, algorithm),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
)`

// SetFallbackKey stores the device's fallback key for k's algorithm,
// replacing the previous one. A new key starts unused; uploading the key
// already stored again keeps its used flag.
func (t *Tx) SetFallbackKey(ctx context.Context, userID id.UserID, deviceID id.DeviceID, k OneTimeKey) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES ($1, $2, $3, $4, $5, FALSE)
		ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
			used = CASE WHEN fallback_keys.key_id = excluded.key_id AND fallback_keys.key_json = excluded.key_json
				THEN fallback_keys.used ELSE FALSE END,
			key_id = excluded.key_id, key_json = excluded.key_json`,
		string(userID), string(deviceID), k.Algorithm, k.KeyID, string(k.KeyJSON))
	if err != nil {
		return fmt.Errorf("store fallback key %s:%s of %s %s: %w", k.Algorithm, k.KeyID, userID, deviceID, err)
	}
	return nil
}

// UnusedFallbackKeyTypes returns the algorithms of the device's fallback
// keys that have not been handed out yet.
func (r reader) UnusedFallbackKeyTypes(ctx context.Context, userID id.UserID, deviceID id.DeviceID) ([]string, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT algorithm FROM fallback_keys WHERE user_id = $1 AND device_id = $2 AND NOT used ORDER BY algorithm`,
		string(userID), string(deviceID))
	if err != nil {
		return nil, fmt.Errorf("load fallback keys of %s %s: %w", userID, deviceID, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var alg string
		if err := rows.Scan(&alg); err != nil {
			return nil, fmt.Errorf("load fallback keys of %s %s: %w", userID, deviceID, err)
		}
		out = append(out, alg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load fallback keys of %s %s: %w", userID, deviceID, err)
	}
	return out, nil
}

// ClaimFallbackKey returns the device's fallback key of the algorithm and
// marks it used (it stays, to be handed out again); ok is false when the
// device has none.
func (t *Tx) ClaimFallbackKey(ctx context.Context, userID id.UserID, deviceID id.DeviceID, algorithm string) (k OneTimeKey, ok bool, err error) {
	var keyID, js string
	err = t.q.QueryRowContext(ctx, `
		UPDATE fallback_keys SET used = TRUE
		WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
		RETURNING key_id, key_json`,
		string(userID), string(deviceID), algorithm).Scan(&keyID, &js)
	if errors.Is(err, sql.ErrNoRows) {
		return OneTimeKey{}, false, nil
	}
	if err != nil {
		return OneTimeKey{}, false, fmt.Errorf("claim %s fallback key of %s %s: %w", algorithm, userID, deviceID, err)
	}
	return OneTimeKey{Algorithm: algorithm, KeyID: keyID, KeyJSON: []byte(js)}, true, nil
}
