package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// device_list_changes is the stream of changes to local users' device
// lists: a row each time a user adds, removes or changes a device's keys or
// changes cross-signing keys or signatures. /sync and /keys/changes report
// the users of the rows past the client's token.
const deviceListChangesSchema = `
CREATE TABLE device_list_changes (
	stream_id {{bigserial_pk}},
	user_id   TEXT NOT NULL
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id)`

// AddDeviceListChange records that the user's device list changed and
// returns the change's stream position.
func (t *Tx) AddDeviceListChange(ctx context.Context, userID id.UserID) (int64, error) {
	var pos int64
	err := t.q.QueryRowContext(ctx, `INSERT INTO device_list_changes (user_id) VALUES ($1) RETURNING stream_id`, string(userID)).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("record device list change of %s: %w", userID, err)
	}
	return pos, nil
}

// DeviceListPosition returns the newest position of the device list
// stream (0 when it is empty).
func (r reader) DeviceListPosition(ctx context.Context) (int64, error) {
	var pos int64
	if err := r.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_id), 0) FROM device_list_changes`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read device list position: %w", err)
	}
	return pos, nil
}

// DeviceListChanges returns the users whose device lists changed in
// (after, upTo], each once.
func (r reader) DeviceListChanges(ctx context.Context, after, upTo int64) ([]id.UserID, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT DISTINCT user_id FROM device_list_changes WHERE stream_id > $1 AND stream_id <= $2 ORDER BY user_id`,
		after, upTo)
	if err != nil {
		return nil, fmt.Errorf("read device list changes: %w", err)
	}
	defer rows.Close()
	var out []id.UserID
	for rows.Next() {
		var u id.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("read device list changes: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read device list changes: %w", err)
	}
	return out, nil
}
