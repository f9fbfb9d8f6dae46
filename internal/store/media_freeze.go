package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// media_legacy_freeze holds, in its one row, when the unauthenticated
// legacy media endpoints were turned off: media stored before that time
// is still served by them, media stored after only by the authenticated
// endpoints (the "freeze" the spec describes). No row: not frozen.
const mediaLegacyFreezeSchema = `
CREATE TABLE media_legacy_freeze (
	id        BIGINT PRIMARY KEY,
	frozen_ts BIGINT NOT NULL
)`

// FreezeLegacyMedia records the freeze at now (milliseconds) unless one is
// recorded, and returns the recorded time.
func (t *Tx) FreezeLegacyMedia(ctx context.Context, now int64) (int64, error) {
	if _, err := t.q.ExecContext(ctx, `INSERT INTO media_legacy_freeze (id, frozen_ts) VALUES (1, $1)
		ON CONFLICT (id) DO NOTHING`, now); err != nil {
		return 0, fmt.Errorf("freeze legacy media: %w", err)
	}
	var ts int64
	if err := t.q.QueryRowContext(ctx, `SELECT frozen_ts FROM media_legacy_freeze WHERE id = 1`).Scan(&ts); err != nil {
		return 0, fmt.Errorf("read legacy media freeze: %w", err)
	}
	return ts, nil
}

// ThawLegacyMedia forgets the freeze: the legacy endpoints serve all
// media again.
func (t *Tx) ThawLegacyMedia(ctx context.Context) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM media_legacy_freeze`); err != nil {
		return fmt.Errorf("thaw legacy media: %w", err)
	}
	return nil
}

// LegacyMediaFrozen returns the recorded freeze time (milliseconds), or
// false when the legacy endpoints are not frozen.
func (r reader) LegacyMediaFrozen(ctx context.Context) (int64, bool, error) {
	var ts int64
	err := r.q.QueryRowContext(ctx, `SELECT frozen_ts FROM media_legacy_freeze WHERE id = 1`).Scan(&ts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read legacy media freeze: %w", err)
	}
	return ts, true, nil
}
