package store

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// access_tokens holds a SHA-256 hash of each token, never the token: a
// leaked database does not let anyone act as its users. Access tokens are
// long random strings, so an unsalted fast hash is enough.
const accessTokensSchema = `
CREATE TABLE access_tokens (
	token_hash {{bytes}} PRIMARY KEY,
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id)`

// AccessToken is what an access token stands for.
type AccessToken struct {
	UserID    id.UserID
	DeviceID  id.DeviceID
	CreatedTS int64
	// ExpiresTS is when the token expires (given with a refresh token), 0
	// for never.
	ExpiresTS int64
	// RevokesRefresh says the token came from a refresh whose old refresh
	// token its first use revokes (Tx.AccessTokenFirstUsed).
	RevokesRefresh bool
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// AddAccessToken stores an access token for an existing device.
func (t *Tx) AddAccessToken(ctx context.Context, token string, userID id.UserID, deviceID id.DeviceID, createdTS int64) error {
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)`,
		hashToken(token), string(userID), string(deviceID), createdTS)
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("add access token for device %s of %s: %w", deviceID, userID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add access token for device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// DeleteDeviceAccessTokens removes every access token of one device, as a
// new login that reuses the device ID must.
func (t *Tx) DeleteDeviceAccessTokens(ctx context.Context, userID id.UserID, deviceID id.DeviceID) error {
	_, err := t.q.ExecContext(ctx,
		`DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`, string(userID), string(deviceID))
	if err != nil {
		return fmt.Errorf("delete access tokens of device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// AccessTokenOwner returns the user and device an access token belongs to,
// or an error wrapping ErrNotFound.
func (r reader) AccessTokenOwner(ctx context.Context, token string) (AccessToken, error) {
	var a AccessToken
	err := r.q.QueryRowContext(ctx,
		`SELECT user_id, device_id, created_ts, expires_ts, revokes_refresh IS NOT NULL FROM access_tokens WHERE token_hash = $1`, hashToken(token)).
		Scan(&a.UserID, &a.DeviceID, &a.CreatedTS, &a.ExpiresTS, &a.RevokesRefresh)
	if err != nil {
		return AccessToken{}, fmt.Errorf("look up access token: %w", notFound(err))
	}
	return a, nil
}

// DeleteAccessToken deletes one access token (logout). It returns an error
// wrapping ErrNotFound if the token is unknown.
func (t *Tx) DeleteAccessToken(ctx context.Context, token string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM access_tokens WHERE token_hash = $1`, hashToken(token))
	if err != nil {
		return fmt.Errorf("delete access token: %w", err)
	}
	return expectRow(res, "delete access token")
}

// DeleteAccessTokensExcept deletes all access tokens of a user except
// those of device keep ("" keeps none), and returns how many it deleted.
func (t *Tx) DeleteAccessTokensExcept(ctx context.Context, userID id.UserID, keep id.DeviceID) (int64, error) {
	res, err := t.q.ExecContext(ctx,
		`DELETE FROM access_tokens WHERE user_id = $1 AND device_id <> $2`, string(userID), string(keep))
	if err != nil {
		return 0, fmt.Errorf("delete access tokens of %s: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete access tokens of %s: %w", userID, err)
	}
	return n, nil
}
