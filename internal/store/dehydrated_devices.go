package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// dehydrated_devices marks at most one device of each user as its
// dehydrated device (MSC3814) and holds the device data the client
// uploaded with it. The device itself is a row of devices (so its keys,
// one-time keys and to-device messages live where every device's do, and
// go with it); deleting the device deletes the mark.
const dehydratedDevicesSchema = `
CREATE TABLE dehydrated_devices (
	user_id     TEXT NOT NULL PRIMARY KEY,
	device_id   TEXT NOT NULL,
	device_data TEXT NOT NULL,
	FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
)`

// SetDehydratedDevice marks the user's device (which must exist) as its
// dehydrated device with the given device data, replacing any previous
// mark (not the previous device: the caller deletes it).
func (t *Tx) SetDehydratedDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID, data []byte) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data`,
		string(userID), string(deviceID), string(data))
	if err != nil {
		return fmt.Errorf("set dehydrated device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// DehydratedDevice returns the ID and device data of the user's
// dehydrated device, or an error wrapping ErrNotFound.
func (r reader) DehydratedDevice(ctx context.Context, userID id.UserID) (id.DeviceID, []byte, error) {
	var dev, data string
	err := r.q.QueryRowContext(ctx,
		`SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1`, string(userID)).Scan(&dev, &data)
	if err != nil {
		return "", nil, fmt.Errorf("load dehydrated device of %s: %w", userID, notFound(err))
	}
	return id.DeviceID(dev), []byte(data), nil
}
