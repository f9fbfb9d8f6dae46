package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Refresh tokens (spec v1.3). An access token given with a refresh token
// expires (access_tokens.expires_ts, 0 for never); the refresh token buys
// a new pair. The old refresh token stays valid until the new access token
// or refresh token is used: next_hash links it to its successor, and the
// new access token's revokes_refresh names it, so that the first use of
// either removes it. As for access tokens only hashes are kept.
const refreshTokensSchema = `
CREATE TABLE refresh_tokens (
	token_hash {{bytes}} PRIMARY KEY,
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	next_hash  {{bytes}},
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens (next_hash)`

// accessTokensExpirySchema adds the expiry of access tokens given with a
// refresh token, and the refresh token their first use revokes.
const accessTokensExpirySchema = `
ALTER TABLE access_tokens ADD COLUMN expires_ts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_tokens ADD COLUMN revokes_refresh {{bytes}}`

// AddExpiringAccessToken stores an access token for an existing device
// that expires at expiresTS, with the refresh token that renews it, and
// removes the device's earlier access and refresh tokens.
func (t *Tx) AddExpiringAccessToken(ctx context.Context, token, refresh string, userID id.UserID, deviceID id.DeviceID, createdTS, expiresTS int64) error {
	if err := t.DeleteDeviceAccessTokens(ctx, userID, deviceID); err != nil {
		return err
	}
	if err := t.DeleteDeviceRefreshTokens(ctx, userID, deviceID); err != nil {
		return err
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts) VALUES ($1, $2, $3, $4, $5)`,
		hashToken(token), string(userID), string(deviceID), createdTS, expiresTS); err != nil {
		return fmt.Errorf("add access token for device %s of %s: %w", deviceID, userID, err)
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)`,
		hashToken(refresh), string(userID), string(deviceID), createdTS); err != nil {
		return fmt.Errorf("add refresh token for device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// DeleteDeviceRefreshTokens removes every refresh token of one device.
func (t *Tx) DeleteDeviceRefreshTokens(ctx context.Context, userID id.UserID, deviceID id.DeviceID) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`,
		string(userID), string(deviceID)); err != nil {
		return fmt.Errorf("delete refresh tokens of device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// RotateRefreshToken spends refresh token old for a new access token
// (expiring at expiresTS) and refresh token of the same device, and
// returns the device's user and ID; an unknown old token is an error
// wrapping ErrNotFound. The old token stays valid (it may be retried)
// until the new pair is used; a retry replaces the successor it made
// before. The device's earlier access tokens go; using old revokes the
// refresh token it replaced.
func (t *Tx) RotateRefreshToken(ctx context.Context, old, access, refresh string, nowTS, expiresTS int64) (id.UserID, id.DeviceID, error) {
	var user id.UserID
	var device id.DeviceID
	var next []byte
	err := t.q.QueryRowContext(ctx, `SELECT user_id, device_id, next_hash FROM refresh_tokens WHERE token_hash = $1`, hashToken(old)).
		Scan(&user, &device, &next)
	if err != nil {
		return "", "", fmt.Errorf("look up refresh token: %w", notFound(err))
	}
	if next != nil {
		if _, err := t.q.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE token_hash = $1`, next); err != nil {
			return "", "", fmt.Errorf("drop the unused successor of a refresh token: %w", err)
		}
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE next_hash = $1`, hashToken(old)); err != nil {
		return "", "", fmt.Errorf("revoke the refresh token before: %w", err)
	}
	if err := t.DeleteDeviceAccessTokens(ctx, user, device); err != nil {
		return "", "", err
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, revokes_refresh)
		VALUES ($1, $2, $3, $4, $5, $6)`, hashToken(access), string(user), string(device), nowTS, expiresTS, hashToken(old)); err != nil {
		return "", "", fmt.Errorf("add refreshed access token: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)`,
		hashToken(refresh), string(user), string(device), nowTS); err != nil {
		return "", "", fmt.Errorf("add refresh token: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `UPDATE refresh_tokens SET next_hash = $1 WHERE token_hash = $2`, hashToken(refresh), hashToken(old)); err != nil {
		return "", "", fmt.Errorf("link refresh tokens: %w", err)
	}
	return user, device, nil
}

// AccessTokenFirstUsed revokes the refresh token a refreshed access token
// replaced, on the access token's first use.
func (t *Tx) AccessTokenFirstUsed(ctx context.Context, token string) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE token_hash =
		(SELECT revokes_refresh FROM access_tokens WHERE token_hash = $1)`, hashToken(token)); err != nil {
		return fmt.Errorf("revoke the replaced refresh token: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `UPDATE access_tokens SET revokes_refresh = NULL WHERE token_hash = $1`, hashToken(token)); err != nil {
		return fmt.Errorf("mark access token used: %w", err)
	}
	return nil
}
