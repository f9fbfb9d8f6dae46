package store

import (
	"context"
	"database/sql"
	"fmt"
)

// registration_tokens follows the token-authenticated registration of the
// client-server API: pending counts registrations that used the token in an
// unfinished UIA session, completed those that finished.
const registrationTokensSchema = `
CREATE TABLE registration_tokens (
	token        TEXT PRIMARY KEY,
	uses_allowed BIGINT,
	pending      BIGINT NOT NULL DEFAULT 0,
	completed    BIGINT NOT NULL DEFAULT 0,
	expiry_time  BIGINT
)`

// RegistrationToken is a token that allows registration. A nil UsesAllowed
// means unlimited uses, a nil ExpiryTime (milliseconds) never expires.
type RegistrationToken struct {
	Token       string
	UsesAllowed *int64
	Pending     int64
	Completed   int64
	ExpiryTime  *int64
}

// Valid reports whether the token may start another registration at now
// (milliseconds).
func (rt RegistrationToken) Valid(now int64) bool {
	if rt.ExpiryTime != nil && *rt.ExpiryTime <= now {
		return false
	}
	return rt.UsesAllowed == nil || rt.Pending+rt.Completed < *rt.UsesAllowed
}

const registrationTokenColumns = `token, uses_allowed, pending, completed, expiry_time`

func scanRegistrationToken(s interface{ Scan(...any) error }) (RegistrationToken, error) {
	var rt RegistrationToken
	var uses, expiry sql.NullInt64
	if err := s.Scan(&rt.Token, &uses, &rt.Pending, &rt.Completed, &expiry); err != nil {
		return RegistrationToken{}, err
	}
	if uses.Valid {
		rt.UsesAllowed = &uses.Int64
	}
	if expiry.Valid {
		rt.ExpiryTime = &expiry.Int64
	}
	return rt, nil
}

func nullableInt64(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

// CreateRegistrationToken creates a token with no uses yet. It returns an
// error wrapping ErrExists if the token exists.
func (t *Tx) CreateRegistrationToken(ctx context.Context, rt RegistrationToken) error {
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES ($1, $2, $3)`,
		rt.Token, nullableInt64(rt.UsesAllowed), nullableInt64(rt.ExpiryTime))
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("create registration token: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create registration token: %w", err)
	}
	return nil
}

// RegistrationToken returns a token, or an error wrapping ErrNotFound.
func (r reader) RegistrationToken(ctx context.Context, token string) (RegistrationToken, error) {
	rt, err := scanRegistrationToken(r.q.QueryRowContext(ctx,
		`SELECT `+registrationTokenColumns+` FROM registration_tokens WHERE token = $1`, token))
	if err != nil {
		return RegistrationToken{}, fmt.Errorf("load registration token: %w", notFound(err))
	}
	return rt, nil
}

// RegistrationTokens returns all tokens, ordered by token.
func (r reader) RegistrationTokens(ctx context.Context) ([]RegistrationToken, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT `+registrationTokenColumns+` FROM registration_tokens ORDER BY token`)
	if err != nil {
		return nil, fmt.Errorf("load registration tokens: %w", err)
	}
	defer rows.Close()
	var out []RegistrationToken
	for rows.Next() {
		rt, err := scanRegistrationToken(rows)
		if err != nil {
			return nil, fmt.Errorf("load registration tokens: %w", err)
		}
		out = append(out, rt)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load registration tokens: %w", err)
	}
	return out, nil
}

// ReserveRegistrationToken counts a pending use of the token if it is
// valid at now (milliseconds), in one conditional update so that two
// registrations can never take the last use. It reports whether the token
// was valid; an unknown token is not valid.
func (t *Tx) ReserveRegistrationToken(ctx context.Context, token string, now int64) (bool, error) {
	res, err := t.q.ExecContext(ctx, `
		UPDATE registration_tokens SET pending = pending + 1
		WHERE token = $1
		  AND (expiry_time IS NULL OR expiry_time > $2)
		  AND (uses_allowed IS NULL OR pending + completed < uses_allowed)`, token, now)
	if err != nil {
		return false, fmt.Errorf("reserve registration token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("reserve registration token: %w", err)
	}
	return n == 1, nil
}

// CompleteRegistrationToken turns a pending use into a completed one. It
// returns an error wrapping ErrNotFound if the token has no pending use.
func (t *Tx) CompleteRegistrationToken(ctx context.Context, token string) error {
	res, err := t.q.ExecContext(ctx, `
		UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1
		WHERE token = $1 AND pending > 0`, token)
	if err != nil {
		return fmt.Errorf("complete registration token use: %w", err)
	}
	return expectRow(res, "complete registration token use")
}

// ReleaseRegistrationToken gives back a pending use whose registration was
// abandoned. It returns an error wrapping ErrNotFound if the token has no
// pending use.
func (t *Tx) ReleaseRegistrationToken(ctx context.Context, token string) error {
	res, err := t.q.ExecContext(ctx,
		`UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1 AND pending > 0`, token)
	if err != nil {
		return fmt.Errorf("release registration token use: %w", err)
	}
	return expectRow(res, "release registration token use")
}

// DeleteRegistrationToken deletes a token. It returns an error wrapping
// ErrNotFound if the token is unknown.
func (t *Tx) DeleteRegistrationToken(ctx context.Context, token string) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM registration_tokens WHERE token = $1`, token)
	if err != nil {
		return fmt.Errorf("delete registration token: %w", err)
	}
	return expectRow(res, "delete registration token")
}
