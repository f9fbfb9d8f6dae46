package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// filters holds sync filters. Filter IDs count up from 0 per user.
const filtersSchema = `
CREATE TABLE filters (
	user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	filter_id   BIGINT NOT NULL,
	filter_json TEXT NOT NULL,
	PRIMARY KEY (user_id, filter_id)
)`

// AddFilter stores a filter (JSON) for a local user and returns its ID, the
// user's next filter number. It returns an error wrapping ErrNotFound if
// the user does not exist.
func (t *Tx) AddFilter(ctx context.Context, userID id.UserID, filterJSON []byte) (int64, error) {
	// Locking the user's row serializes allocations for one user where
	// several writers could run at once; the MAX+1 below is then safe.
	var locked string
	err := t.q.QueryRowContext(ctx, `SELECT user_id FROM users WHERE user_id = $1`+t.d.forUpdate(), string(userID)).Scan(&locked)
	if err != nil {
		return 0, fmt.Errorf("add filter for %s: %w", userID, notFound(err))
	}
	var filterID int64
	err = t.q.QueryRowContext(ctx, `
		INSERT INTO filters (user_id, filter_id, filter_json)
		SELECT $1, COALESCE(MAX(filter_id) + 1, 0), $2 FROM filters WHERE user_id = $1
		RETURNING filter_id`, string(userID), string(filterJSON)).Scan(&filterID)
	if err != nil {
		return 0, fmt.Errorf("add filter for %s: %w", userID, err)
	}
	return filterID, nil
}

// Filter returns a user's filter (JSON), or an error wrapping ErrNotFound.
func (r reader) Filter(ctx context.Context, userID id.UserID, filterID int64) ([]byte, error) {
	var js string
	err := r.q.QueryRowContext(ctx,
		`SELECT filter_json FROM filters WHERE user_id = $1 AND filter_id = $2`, string(userID), filterID).Scan(&js)
	if err != nil {
		return nil, fmt.Errorf("load filter %d of %s: %w", filterID, userID, notFound(err))
	}
	return []byte(js), nil
}
