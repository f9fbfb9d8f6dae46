package store

import (
	"context"
	"fmt"
)

// uia_sessions holds user-interactive authentication sessions. The stages
// and parameters are JSON chosen by the caller; the store does not read
// them.
const uiaSessionsSchema = `
CREATE TABLE uia_sessions (
	session_id       TEXT PRIMARY KEY,
	created_ts       BIGINT NOT NULL,
	completed_stages TEXT NOT NULL,
	params           TEXT NOT NULL
);
CREATE INDEX uia_sessions_created ON uia_sessions (created_ts)`

// UIASession is a user-interactive authentication session.
// CompletedStages and Params are JSON documents.
type UIASession struct {
	SessionID       string
	CreatedTS       int64
	CompletedStages []byte
	Params          []byte
}

// CreateUIASession stores a new session. It returns an error wrapping
// ErrExists if the session ID is taken.
func (t *Tx) CreateUIASession(ctx context.Context, s UIASession) error {
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO uia_sessions (session_id, created_ts, completed_stages, params) VALUES ($1, $2, $3, $4)`,
		s.SessionID, s.CreatedTS, string(s.CompletedStages), string(s.Params))
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("create uia session: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create uia session: %w", err)
	}
	return nil
}

// UIASession returns a session, or an error wrapping ErrNotFound.
func (r reader) UIASession(ctx context.Context, sessionID string) (UIASession, error) {
	var s UIASession
	var stages, params string
	err := r.q.QueryRowContext(ctx,
		`SELECT session_id, created_ts, completed_stages, params FROM uia_sessions WHERE session_id = $1`, sessionID).
		Scan(&s.SessionID, &s.CreatedTS, &stages, &params)
	if err != nil {
		return UIASession{}, fmt.Errorf("load uia session: %w", notFound(err))
	}
	s.CompletedStages, s.Params = []byte(stages), []byte(params)
	return s, nil
}

// SetUIACompletedStages replaces a session's completed stages (JSON). It
// returns an error wrapping ErrNotFound if the session is unknown.
func (t *Tx) SetUIACompletedStages(ctx context.Context, sessionID string, stages []byte) error {
	res, err := t.q.ExecContext(ctx,
		`UPDATE uia_sessions SET completed_stages = $1 WHERE session_id = $2`, string(stages), sessionID)
	if err != nil {
		return fmt.Errorf("set uia completed stages: %w", err)
	}
	return expectRow(res, "set uia completed stages")
}

// UpdateUIASession replaces a session's completed stages and parameters
// (JSON); its creation time stays. It returns an error wrapping ErrNotFound
// if the session is unknown.
func (t *Tx) UpdateUIASession(ctx context.Context, s UIASession) error {
	res, err := t.q.ExecContext(ctx,
		`UPDATE uia_sessions SET completed_stages = $1, params = $2 WHERE session_id = $3`,
		string(s.CompletedStages), string(s.Params), s.SessionID)
	if err != nil {
		return fmt.Errorf("update uia session: %w", err)
	}
	return expectRow(res, "update uia session")
}

// DeleteUIASession deletes a session and reports whether it existed.
// Deleting an unknown one is not an error, since sessions also expire; the
// result lets one of several concurrent callers claim a session.
func (t *Tx) DeleteUIASession(ctx context.Context, sessionID string) (bool, error) {
	res, err := t.q.ExecContext(ctx, `DELETE FROM uia_sessions WHERE session_id = $1`, sessionID)
	if err != nil {
		return false, fmt.Errorf("delete uia session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete uia session: %w", err)
	}
	return n > 0, nil
}

// DeleteUIASessionsBefore deletes at most limit sessions created before ts
// (milliseconds) and returns how many it deleted. The limit keeps the
// cleanup that rides along with a request short however many sessions
// expired at once.
func (t *Tx) DeleteUIASessionsBefore(ctx context.Context, ts int64, limit int) (int64, error) {
	res, err := t.q.ExecContext(ctx,
		`DELETE FROM uia_sessions WHERE session_id IN (SELECT session_id FROM uia_sessions WHERE created_ts < $1 LIMIT $2)`,
		ts, limit)
	if err != nil {
		return 0, fmt.Errorf("expire uia sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire uia sessions: %w", err)
	}
	return n, nil
}
