package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// remote_server_keys caches the verify keys of other servers, fetched from
// them or through a notary, so events and requests can be checked across
// restarts. valid_until_ts is already capped at seven days after the fetch,
// as the spec requires; expired_ts is 0 for a key published under
// verify_keys and the key's expired_ts for one under old_verify_keys.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
const remoteServerKeysSchema = `
CREATE TABLE remote_server_keys (
	server_name    TEXT NOT NULL,
	key_id         TEXT NOT NULL,
	public_key     TEXT NOT NULL,
	valid_until_ts BIGINT NOT NULL,
	expired_ts     BIGINT NOT NULL,
	fetched_ts     BIGINT NOT NULL,
	PRIMARY KEY (server_name, key_id)
)`

// RemoteServerKey is one row of remote_server_keys.
type RemoteServerKey struct {
	ServerName id.ServerName
	KeyID      signing.KeyID
	// PublicKey is the unpadded base64 ed25519 public key.
	PublicKey string
	// ValidUntilTS is the lesser of the response's valid_until_ts and seven
	// days after FetchedTS (milliseconds since the epoch).
	ValidUntilTS int64
	// ExpiredTS is the expired_ts of an old key, 0 for a current one.
	ExpiredTS int64
	// FetchedTS is when the key was last fetched.
	FetchedTS int64
}

// remote_key_responses keeps the freshest signed key response of each
// other server, as its origin signed it, so this server can answer
// /_matrix/key/v2/query as a notary, also while the server is down.
const remoteKeyResponsesSchema = `
CREATE TABLE remote_key_responses (
	server_name    TEXT PRIMARY KEY,
	response       TEXT NOT NULL,
	valid_until_ts BIGINT NOT NULL,
	fetched_ts     BIGINT NOT NULL
)`

// KeyResponse is one row of remote_key_responses.
type KeyResponse struct {
	ServerName id.ServerName
	// JSON is the response object as the server signed it.
	JSON []byte
	// ValidUntilTS is the response's own valid_until_ts, uncapped.
	ValidUntilTS int64
	FetchedTS    int64
}

// StoreServerKeys records a verified key response and the keys in it. The
// response replaces the stored one unless that is valid for longer; a key
// keeps the longest validity it was seen with, and its latest public key
// and expiry.
func (db *DB) StoreServerKeys(ctx context.Context, resp KeyResponse, keys []RemoteServerKey) error {
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.q.ExecContext(ctx, `
			INSERT INTO remote_key_responses (server_name, response, valid_until_ts, fetched_ts)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (server_name) DO UPDATE SET response = excluded.response,
				valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts
			WHERE excluded.valid_until_ts >= remote_key_responses.valid_until_ts`,
			string(resp.ServerName), string(resp.JSON), resp.ValidUntilTS, resp.FetchedTS); err != nil {
			return fmt.Errorf("store key response of %s: %w", resp.ServerName, err)
		}
		for _, k := range keys {
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO remote_server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (server_name, key_id) DO UPDATE SET
					public_key = excluded.public_key,
					valid_until_ts = CASE WHEN excluded.valid_until_ts > remote_server_keys.valid_until_ts
						THEN excluded.valid_until_ts ELSE remote_server_keys.valid_until_ts END,
					expired_ts = excluded.expired_ts,
					fetched_ts = excluded.fetched_ts`,
				string(k.ServerName), string(k.KeyID), k.PublicKey, k.ValidUntilTS, k.ExpiredTS, k.FetchedTS); err != nil {
				return fmt.Errorf("store key %s of %s: %w", k.KeyID, k.ServerName, err)
			}
		}
		return nil
	})
}

// ServerKeys returns the cached keys of a server, ordered by key ID.
func (r reader) ServerKeys(ctx context.Context, server id.ServerName) ([]RemoteServerKey, error) {
	var out []RemoteServerKey
	err := r.scanRows(ctx, `
		SELECT key_id, public_key, valid_until_ts, expired_ts, fetched_ts FROM remote_server_keys
		WHERE server_name = $1 ORDER BY key_id`, []any{string(server)},
		func(scan func(...any) error) error {
			k := RemoteServerKey{ServerName: server}
			if err := scan(&k.KeyID, &k.PublicKey, &k.ValidUntilTS, &k.ExpiredTS, &k.FetchedTS); err != nil {
				return err
			}
			out = append(out, k)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load keys of %s: %w", server, err)
	}
	return out, nil
}

// ServerKeyResponse returns the stored key response of a server, or an
// error wrapping ErrNotFound.
func (r reader) ServerKeyResponse(ctx context.Context, server id.ServerName) (KeyResponse, error) {
	resp := KeyResponse{ServerName: server}
	var js string
	err := r.q.QueryRowContext(ctx, `
		SELECT response, valid_until_ts, fetched_ts FROM remote_key_responses WHERE server_name = $1`,
		string(server)).Scan(&js, &resp.ValidUntilTS, &resp.FetchedTS)
	if err != nil {
		return KeyResponse{}, fmt.Errorf("load key response of %s: %w", server, notFound(err))
	}
	resp.JSON = []byte(js)
	return resp, nil
}
