package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// remote_device_lists caches the device lists of users of other servers
// that share a room with a local user: the last stream_id of the user's
// server this server applied, and whether the list is known to miss
// updates (stale: a stream_id gap was seen, a resync through
// /user/devices is due). remote_device_keys holds the cached devices and
// remote_cross_signing_keys the master and self-signing keys.
const remoteDeviceListsSchema = `
CREATE TABLE remote_device_lists (
	user_id   TEXT PRIMARY KEY,
	stream_id BIGINT NOT NULL,
	stale     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE remote_device_keys (
	user_id      TEXT NOT NULL,
	device_id    TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	key_json     TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id)
);
CREATE TABLE remote_cross_signing_keys (
	user_id  TEXT NOT NULL,
	key_type TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, key_type)
)`

// remoteDeviceListsCheckedSchema adds the event stream position at which
// a cached list was last known complete: updates reach this server only
// while it shares a room with the user, so a list is complete only if the
// sharing has lasted since then (Tx.SharingSince).
const remoteDeviceListsCheckedSchema = `ALTER TABLE remote_device_lists ADD COLUMN checked_pos BIGINT NOT NULL DEFAULT 0`

// RemoteDeviceList is the cached state of a remote user's device list.
type RemoteDeviceList struct {
	StreamID int64
	Stale    bool
	// CheckedPos is the event stream position at which the list was last
	// known complete.
	CheckedPos int64
}

// RemoteDeviceListOf returns the cached state of a remote user's device
// list; an error wrapping ErrNotFound when it is not cached.
func (r reader) RemoteDeviceListOf(ctx context.Context, user id.UserID) (RemoteDeviceList, error) {
	var l RemoteDeviceList
	err := r.q.QueryRowContext(ctx, `SELECT stream_id, stale, checked_pos FROM remote_device_lists WHERE user_id = $1`, string(user)).
		Scan(&l.StreamID, &l.Stale, &l.CheckedPos)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("device list of %s: %w", user, ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("load device list of %s: %w", user, err)
	}
	return l, nil
}

// RemoteDeviceKeys returns the cached devices of a remote user.
func (r reader) RemoteDeviceKeys(ctx context.Context, user id.UserID) ([]DeviceKeys, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT device_id, display_name, key_json FROM remote_device_keys WHERE user_id = $1 ORDER BY device_id`, string(user))
	if err != nil {
		return nil, fmt.Errorf("load cached devices of %s: %w", user, err)
	}
	defer rows.Close()
	var out []DeviceKeys
	for rows.Next() {
		var dk DeviceKeys
		var js string
		if err := rows.Scan(&dk.DeviceID, &dk.DisplayName, &js); err != nil {
			return nil, fmt.Errorf("load cached devices of %s: %w", user, err)
		}
		dk.KeyJSON = []byte(js)
		out = append(out, dk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load cached devices of %s: %w", user, err)
	}
	return out, nil
}

// RemoteCrossSigningKeys returns the cached cross-signing keys of a
// remote user by type (master, self_signing).
func (r reader) RemoteCrossSigningKeys(ctx context.Context, user id.UserID) (map[string][]byte, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT key_type, key_json FROM remote_cross_signing_keys WHERE user_id = $1`, string(user))
	if err != nil {
		return nil, fmt.Errorf("load cached cross-signing keys of %s: %w", user, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var kt, js string
		if err := rows.Scan(&kt, &js); err != nil {
			return nil, fmt.Errorf("load cached cross-signing keys of %s: %w", user, err)
		}
		out[kt] = []byte(js)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load cached cross-signing keys of %s: %w", user, err)
	}
	return out, nil
}

// SetRemoteDeviceList records the cached state of a remote user's list.
func (t *Tx) SetRemoteDeviceList(ctx context.Context, user id.UserID, l RemoteDeviceList) error {
	if _, err := t.q.ExecContext(ctx, `
		INSERT INTO remote_device_lists (user_id, stream_id, stale, checked_pos) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, stale = excluded.stale, checked_pos = excluded.checked_pos`,
		string(user), l.StreamID, l.Stale, l.CheckedPos); err != nil {
		return fmt.Errorf("store device list of %s: %w", user, err)
	}
	return nil
}

// ReplaceRemoteDevices replaces the cached devices of a remote user.
func (t *Tx) ReplaceRemoteDevices(ctx context.Context, user id.UserID, devices []DeviceKeys) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM remote_device_keys WHERE user_id = $1`, string(user)); err != nil {
		return fmt.Errorf("replace cached devices of %s: %w", user, err)
	}
	for _, d := range devices {
		if err := t.SetRemoteDevice(ctx, user, d); err != nil {
			return err
		}
	}
	return nil
}

// SetRemoteDevice stores (or replaces) one cached device of a remote user.
func (t *Tx) SetRemoteDevice(ctx context.Context, user id.UserID, d DeviceKeys) error {
	if _, err := t.q.ExecContext(ctx, `
		INSERT INTO remote_device_keys (user_id, device_id, display_name, key_json) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name, key_json = excluded.key_json`,
		string(user), string(d.DeviceID), d.DisplayName, string(d.KeyJSON)); err != nil {
		return fmt.Errorf("store cached device %s of %s: %w", d.DeviceID, user, err)
	}
	return nil
}

// DeleteRemoteDevice removes one cached device of a remote user.
func (t *Tx) DeleteRemoteDevice(ctx context.Context, user id.UserID, device id.DeviceID) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM remote_device_keys WHERE user_id = $1 AND device_id = $2`,
		string(user), string(device)); err != nil {
		return fmt.Errorf("delete cached device %s of %s: %w", device, user, err)
	}
	return nil
}

// SetRemoteCrossSigningKey stores (or replaces) a cached cross-signing key
// of a remote user.
func (t *Tx) SetRemoteCrossSigningKey(ctx context.Context, user id.UserID, keyType string, keyJSON []byte) error {
	if _, err := t.q.ExecContext(ctx, `
		INSERT INTO remote_cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json`,
		string(user), keyType, string(keyJSON)); err != nil {
		return fmt.Errorf("store cached %s key of %s: %w", keyType, user, err)
	}
	return nil
}

// SharingSince reports whether a user of server self and the remote user
// have both been joined to one room since event stream position pos or
// before (by their current memberships): the two servers then shared a
// room all along since pos.
func (r reader) SharingSince(ctx context.Context, remote id.UserID, self id.ServerName, pos int64) (bool, error) {
	var n int64
	err := r.q.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM (SELECT 1 FROM memberships rm JOIN memberships l ON l.room_id = rm.room_id
		WHERE rm.user_id = $1 AND rm.membership = 'join' AND rm.stream_pos <= $2
			AND l.membership = 'join' AND l.stream_pos <= $2 AND l.user_id LIKE $3 LIMIT 1) AS shared`,
		string(remote), pos, "%:"+string(self)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("rooms shared with %s since %d: %w", remote, pos, err)
	}
	return n > 0, nil
}
