package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// cross_signing_keys holds each user's cross-signing keys: one row per
// key type ("master", "self_signing", "user_signing"), the
// CrossSigningKey object as uploaded.
const crossSigningKeysSchema = `
CREATE TABLE cross_signing_keys (
	user_id  TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	key_type TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, key_type)
)`

// SetCrossSigningKey stores (or replaces) one cross-signing key of a user.
func (t *Tx) SetCrossSigningKey(ctx context.Context, userID id.UserID, keyType string, keyJSON []byte) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json`,
		string(userID), keyType, string(keyJSON))
	if err != nil {
		return fmt.Errorf("store %s key of %s: %w", keyType, userID, err)
	}
	return nil
}

// CrossSigningKeys returns the user's cross-signing keys by key type.
func (r reader) CrossSigningKeys(ctx context.Context, userID id.UserID) (map[string][]byte, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT key_type, key_json FROM cross_signing_keys WHERE user_id = $1`, string(userID))
	if err != nil {
		return nil, fmt.Errorf("load cross-signing keys of %s: %w", userID, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var kt, js string
		if err := rows.Scan(&kt, &js); err != nil {
			return nil, fmt.Errorf("load cross-signing keys of %s: %w", userID, err)
		}
		out[kt] = []byte(js)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load cross-signing keys of %s: %w", userID, err)
	}
	return out, nil
}
