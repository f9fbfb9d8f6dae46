package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

const devicesSchema = `
CREATE TABLE devices (
	user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
	device_id    TEXT NOT NULL,
	display_name TEXT,
	created_ts   BIGINT NOT NULL,
	last_seen_ts BIGINT,
	last_seen_ip TEXT,
	PRIMARY KEY (user_id, device_id)
)`

// Device is a user's device. Empty strings and zero timestamps mean unset.
type Device struct {
	UserID      id.UserID
	DeviceID    id.DeviceID
	DisplayName string
	CreatedTS   int64
	LastSeenTS  int64
	LastSeenIP  string
}

const deviceColumns = `user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip`

func scanDevice(s interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var name, ip sql.NullString
	var seen sql.NullInt64
	if err := s.Scan(&d.UserID, &d.DeviceID, &name, &d.CreatedTS, &seen, &ip); err != nil {
		return Device{}, err
	}
	d.DisplayName, d.LastSeenTS, d.LastSeenIP = name.String, seen.Int64, ip.String
	return d, nil
}

// CreateDevice creates a device. It returns an error wrapping ErrExists if
// the user already has a device with that ID.
func (t *Tx) CreateDevice(ctx context.Context, d Device) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO devices (`+deviceColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		string(d.UserID), string(d.DeviceID), nullString(d.DisplayName), d.CreatedTS,
		nullInt64(d.LastSeenTS), nullString(d.LastSeenIP))
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("create device %s of %s: %w", d.DeviceID, d.UserID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create device %s of %s: %w", d.DeviceID, d.UserID, err)
	}
	return nil
}

// Device returns one device, or an error wrapping ErrNotFound.
func (r reader) Device(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (Device, error) {
	d, err := scanDevice(r.q.QueryRowContext(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 AND device_id = $2`,
		string(userID), string(deviceID)))
	if err != nil {
		return Device{}, fmt.Errorf("load device %s of %s: %w", deviceID, userID, notFound(err))
	}
	return d, nil
}

// Devices returns a user's devices, ordered by device ID.
func (r reader) Devices(ctx context.Context, userID id.UserID) ([]Device, error) {
	rows, err := r.q.QueryContext(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY device_id`, string(userID))
	if err != nil {
		return nil, fmt.Errorf("load devices of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("load devices of %s: %w", userID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load devices of %s: %w", userID, err)
	}
	return out, nil
}

// SetDeviceDisplayName sets a device's display name; "" removes it.
func (t *Tx) SetDeviceDisplayName(ctx context.Context, userID id.UserID, deviceID id.DeviceID, name string) error {
	res, err := t.q.ExecContext(ctx,
		`UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`,
		nullString(name), string(userID), string(deviceID))
	if err != nil {
		return fmt.Errorf("set display name of device %s of %s: %w", deviceID, userID, err)
	}
	return expectRow(res, fmt.Sprintf("set display name of device %s of %s", deviceID, userID))
}

// SetDeviceLastSeen records when and from where a device was last used.
func (t *Tx) SetDeviceLastSeen(ctx context.Context, userID id.UserID, deviceID id.DeviceID, ts int64, ip string) error {
	res, err := t.q.ExecContext(ctx,
		`UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2 WHERE user_id = $3 AND device_id = $4`,
		ts, nullString(ip), string(userID), string(deviceID))
	if err != nil {
		return fmt.Errorf("set last seen of device %s of %s: %w", deviceID, userID, err)
	}
	return expectRow(res, fmt.Sprintf("set last seen of device %s of %s", deviceID, userID))
}

// DeleteDevice deletes a device and, with it, its access tokens. It
// returns an error wrapping ErrNotFound if there is no such device.
func (t *Tx) DeleteDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID) error {
	res, err := t.q.ExecContext(ctx,
		`DELETE FROM devices WHERE user_id = $1 AND device_id = $2`, string(userID), string(deviceID))
	if err != nil {
		return fmt.Errorf("delete device %s of %s: %w", deviceID, userID, err)
	}
	if err := expectRow(res, fmt.Sprintf("delete device %s of %s", deviceID, userID)); err != nil {
		return err
	}
	// The pushers the device set go with it, as its access token does.
	if err := t.DeleteDevicePushers(ctx, userID, []id.DeviceID{deviceID}); err != nil {
		return err
	}
	// Other users' encrypting clients must stop encrypting for it.
	_, err = t.AddDeviceListChange(ctx, userID, string(deviceID))
	return err
}
