package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// device_keys holds the identity keys each device published with
// /keys/upload (the signed DeviceKeys object, as JSON). A device's keys go
// with the device.
const deviceKeysSchema = `
CREATE TABLE device_keys (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	key_json  TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id),
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
)`

// DeviceKeys is a device's published identity keys.
type DeviceKeys struct {
	DeviceID id.DeviceID
	// DisplayName is the device's display name ("" if none).
	DisplayName string
	// KeyJSON is the DeviceKeys object as uploaded.
	KeyJSON []byte
}

// SetDeviceKeys stores (or replaces) the identity keys of a device. It
// returns an error wrapping ErrNotFound when the device does not exist.
func (t *Tx) SetDeviceKeys(ctx context.Context, userID id.UserID, deviceID id.DeviceID, keyJSON []byte) error {
	var exists int
	err := t.q.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2`,
		string(userID), string(deviceID)).Scan(&exists)
	if err != nil {
		return fmt.Errorf("store device keys of %s %s: %w", userID, deviceID, notFound(err))
	}
	_, err = t.q.ExecContext(ctx, `
		INSERT INTO device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json`,
		string(userID), string(deviceID), string(keyJSON))
	if err != nil {
		return fmt.Errorf("store device keys of %s %s: %w", userID, deviceID, err)
	}
	return nil
}

// DeviceKeysOf returns the identity keys of one device, or an error
// wrapping ErrNotFound when it has published none.
func (r reader) DeviceKeysOf(ctx context.Context, userID id.UserID, deviceID id.DeviceID) ([]byte, error) {
	var js string
	err := r.q.QueryRowContext(ctx, `SELECT key_json FROM device_keys WHERE user_id = $1 AND device_id = $2`,
		string(userID), string(deviceID)).Scan(&js)
	if err != nil {
		return nil, fmt.Errorf("load device keys of %s %s: %w", userID, deviceID, notFound(err))
	}
	return []byte(js), nil
}

// UserDeviceKeys returns the identity keys of every device of the user
// that has published some, ordered by device ID.
func (r reader) UserDeviceKeys(ctx context.Context, userID id.UserID) ([]DeviceKeys, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT k.device_id, d.display_name, k.key_json
		FROM device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
		WHERE k.user_id = $1 ORDER BY k.device_id`, string(userID))
	if err != nil {
		return nil, fmt.Errorf("load device keys of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []DeviceKeys
	for rows.Next() {
		var dk DeviceKeys
		var name sql.NullString
		var js string
		if err := rows.Scan(&dk.DeviceID, &name, &js); err != nil {
			return nil, fmt.Errorf("load device keys of %s: %w", userID, err)
		}
		dk.DisplayName, dk.KeyJSON = name.String, []byte(js)
		out = append(out, dk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load device keys of %s: %w", userID, err)
	}
	return out, nil
}
