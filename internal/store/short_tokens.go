package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// short_tokens are short-lived tokens a user asks for and a third party
// (or the user's other device) presents: OpenID tokens ("openid", valid
// until they expire or the account is deactivated) and login tokens
// ("login", used once). As for access tokens only a hash is kept.
const shortTokensSchema = `
CREATE TABLE short_tokens (
	token_hash {{bytes}} PRIMARY KEY,
	kind       TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	expires_ts BIGINT NOT NULL
);
CREATE INDEX short_tokens_expiry ON short_tokens (expires_ts)`

// Kinds of short tokens.
const (
	// ShortTokenOpenID is the kind of OpenID tokens.
	ShortTokenOpenID = "openid"
	// ShortTokenLogin is the kind of login tokens.
	ShortTokenLogin = "login"
)

// maxExpiredTokensSwept bounds the expired short tokens one AddShortToken
// removes.
const maxExpiredTokensSwept = 100

// AddShortToken stores a token of kind for user until expiresTS, and
// removes some (a bounded number) of the tokens that expired before
// nowTS.
func (t *Tx) AddShortToken(ctx context.Context, kind, token string, user id.UserID, expiresTS, nowTS int64) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM short_tokens WHERE token_hash IN (
			SELECT token_hash FROM short_tokens WHERE expires_ts < $1 LIMIT $2)`, nowTS, maxExpiredTokensSwept); err != nil {
		return fmt.Errorf("sweep expired tokens: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO short_tokens (token_hash, kind, user_id, expires_ts) VALUES ($1, $2, $3, $4)`,
		hashToken(token), kind, string(user), expiresTS); err != nil {
		return fmt.Errorf("store %s token of %s: %w", kind, user, err)
	}
	return nil
}

// ShortTokenOwner returns the user of a token of kind that has not
// expired at nowTS, or an error wrapping ErrNotFound. The token of a
// deactivated account is not honoured, even one stored after the
// deactivation removed the account's tokens (a request that raced it).
func (r reader) ShortTokenOwner(ctx context.Context, kind, token string, nowTS int64) (id.UserID, error) {
	var user id.UserID
	err := r.q.QueryRowContext(ctx, `SELECT s.user_id FROM short_tokens s
		WHERE s.token_hash = $1 AND s.kind = $2 AND s.expires_ts >= $3
		AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = s.user_id AND u.deactivated)`,
		hashToken(token), kind, nowTS).Scan(&user)
	if err != nil {
		return "", fmt.Errorf("look up %s token: %w", kind, notFound(err))
	}
	return user, nil
}

// UseShortToken removes a token of kind and returns its user if it had
// not expired at nowTS; of concurrent uses only one succeeds. Otherwise
// it returns an error wrapping ErrNotFound.
func (t *Tx) UseShortToken(ctx context.Context, kind, token string, nowTS int64) (id.UserID, error) {
	var user id.UserID
	var expires int64
	err := t.q.QueryRowContext(ctx, `DELETE FROM short_tokens WHERE token_hash = $1 AND kind = $2 RETURNING user_id, expires_ts`,
		hashToken(token), kind).Scan(&user, &expires)
	if err != nil {
		return "", fmt.Errorf("use %s token: %w", kind, notFound(err))
	}
	if expires < nowTS {
		return "", fmt.Errorf("use %s token: expired: %w", kind, ErrNotFound)
	}
	return user, nil
}
