package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/signing"
)

// own_signing_keys is the history of this server's signing keys: the key
// in use (expired_ts 0) and every key it used before, with the time it
// stopped using it. GET /_matrix/key/v2/server lists the former under
// old_verify_keys, so other servers can still check events signed with
// them.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#publishing-keys
const ownSigningKeysSchema = `
CREATE TABLE own_signing_keys (
	key_id     TEXT PRIMARY KEY,
	public_key TEXT NOT NULL,
	expired_ts BIGINT NOT NULL
)`

// OwnSigningKey is one row of own_signing_keys.
type OwnSigningKey struct {
	KeyID signing.KeyID
	// PublicKey is the unpadded base64 ed25519 public key.
	PublicKey string
	// ExpiredTS is when the server stopped using the key (milliseconds
	// since the epoch); 0 for the key in use.
	ExpiredTS int64
}

// RecordOwnSigningKey records that the server signs with keyID (public key
// publicKey, unpadded base64) from now on: every other key still marked
// in use is marked expired at nowMS. Recording the key in use again
// changes nothing.
func (db *DB) RecordOwnSigningKey(ctx context.Context, keyID signing.KeyID, publicKey string, nowMS int64) error {
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.q.ExecContext(ctx, `
			UPDATE own_signing_keys SET expired_ts = $1
			WHERE expired_ts = 0 AND key_id <> $2`, nowMS, string(keyID)); err != nil {
			return fmt.Errorf("expire previous signing keys: %w", err)
		}
		if _, err := tx.q.ExecContext(ctx, `
			INSERT INTO own_signing_keys (key_id, public_key, expired_ts) VALUES ($1, $2, 0)
			ON CONFLICT (key_id) DO UPDATE SET public_key = excluded.public_key, expired_ts = 0`,
			string(keyID), publicKey); err != nil {
			return fmt.Errorf("record signing key %s: %w", keyID, err)
		}
		return nil
	})
}

// OwnSigningKeys returns every signing key the server has used, ordered by
// key ID.
func (r reader) OwnSigningKeys(ctx context.Context) ([]OwnSigningKey, error) {
	var out []OwnSigningKey
	err := r.scanRows(ctx, `SELECT key_id, public_key, expired_ts FROM own_signing_keys ORDER BY key_id`, nil,
		func(scan func(...any) error) error {
			var k OwnSigningKey
			if err := scan(&k.KeyID, &k.PublicKey, &k.ExpiredTS); err != nil {
				return err
			}
			out = append(out, k)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load own signing keys: %w", err)
	}
	return out, nil
}

// RotateOwnSigningKey records, in one transaction, that the server stops
// signing with old (marked expired at nowMS, and recorded if it was not)
// and signs with newKey from now on, and makes newKey's ID the signing key
// ID the database belongs to (see ServerIdentity). The recorded key ID
// must be old's, or none yet; otherwise it returns an error wrapping
// ErrStale and changes nothing.
func (db *DB) RotateOwnSigningKey(ctx context.Context, old, newKey OwnSigningKey, nowMS int64) error {
	return db.Write(ctx, func(tx *Tx) error {
		var recorded string
		err := tx.q.QueryRowContext(ctx, `SELECT value FROM server_identity WHERE name = 'signing_key_id'`).Scan(&recorded)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read recorded signing key: %w", err)
		}
		if recorded != "" && recorded != string(old.KeyID) {
			return fmt.Errorf("rotate signing key %s: the database's key is %s: %w", old.KeyID, recorded, ErrStale)
		}
		if _, err := tx.q.ExecContext(ctx, `
			INSERT INTO own_signing_keys (key_id, public_key, expired_ts) VALUES ($1, $2, $3)
			ON CONFLICT (key_id) DO UPDATE SET expired_ts = excluded.expired_ts`,
			string(old.KeyID), old.PublicKey, nowMS); err != nil {
			return fmt.Errorf("expire signing key %s: %w", old.KeyID, err)
		}
		if _, err := tx.q.ExecContext(ctx, `
			UPDATE own_signing_keys SET expired_ts = $1 WHERE expired_ts = 0 AND key_id <> $2`,
			nowMS, string(newKey.KeyID)); err != nil {
			return fmt.Errorf("expire previous signing keys: %w", err)
		}
		if _, err := tx.q.ExecContext(ctx, `
			INSERT INTO own_signing_keys (key_id, public_key, expired_ts) VALUES ($1, $2, 0)`,
			string(newKey.KeyID), newKey.PublicKey); err != nil {
			return fmt.Errorf("record signing key %s: %w", newKey.KeyID, err)
		}
		if _, err := tx.q.ExecContext(ctx, `
			INSERT INTO server_identity (name, value) VALUES ('signing_key_id', $1)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, string(newKey.KeyID)); err != nil {
			return fmt.Errorf("record signing key id %s: %w", newKey.KeyID, err)
		}
		return nil
	})
}
