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

// deviceListChangesDeviceSchema names what changed in a device list
// change: the device ID (or the cross-signing key signed) whose keys were
// added, changed or removed, or "" for the user's cross-signing keys. The
// federation sender turns each change of a local user into an
// m.device_list_update or m.signing_key_update EDU.
const deviceListChangesDeviceSchema = `ALTER TABLE device_list_changes ADD COLUMN device_id TEXT NOT NULL DEFAULT ''`

// AddDeviceListChange records that the user's device list changed — the
// keys of deviceID (a device, or a cross-signing key that got a signature),
// or, for "", the cross-signing keys — and returns the change's stream
// position.
func (t *Tx) AddDeviceListChange(ctx context.Context, userID id.UserID, deviceID string) (int64, error) {
	var pos int64
	err := t.q.QueryRowContext(ctx, `INSERT INTO device_list_changes (user_id, device_id) VALUES ($1, $2) RETURNING stream_id`,
		string(userID), deviceID).Scan(&pos)
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

// DeviceListChange is one row of the device list stream.
type DeviceListChange struct {
	StreamID int64
	UserID   id.UserID
	// DeviceID is what changed (see AddDeviceListChange).
	DeviceID string
}

// DeviceListChangesAfter returns up to limit changes after stream ID
// after, oldest first.
func (r reader) DeviceListChangesAfter(ctx context.Context, after int64, limit int) ([]DeviceListChange, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT stream_id, user_id, device_id FROM device_list_changes WHERE stream_id > $1 ORDER BY stream_id LIMIT $2`,
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("read device list changes: %w", err)
	}
	defer rows.Close()
	var out []DeviceListChange
	for rows.Next() {
		var c DeviceListChange
		if err := rows.Scan(&c.StreamID, &c.UserID, &c.DeviceID); err != nil {
			return nil, fmt.Errorf("read device list changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read device list changes: %w", err)
	}
	return out, nil
}

// LastDeviceChange returns the stream ID of the user's last change of a
// device (not of the cross-signing keys) before stream ID before, or 0.
// It is the prev_id of the change at before, and, with before past the
// stream's end, the stream_id of /user/devices.
func (r reader) LastDeviceChange(ctx context.Context, user id.UserID, before int64) (int64, error) {
	var pos int64
	if err := r.q.QueryRowContext(ctx, `
		SELECT COALESCE(MAX(stream_id), 0) FROM device_list_changes
		WHERE user_id = $1 AND device_id <> '' AND stream_id < $2`, string(user), before).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read last device change of %s: %w", user, err)
	}
	return pos, nil
}
