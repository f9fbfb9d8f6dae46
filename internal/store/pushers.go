package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// pushers are the push gateways (or other kinds) users asked to be
// notified through, one per app ID, push key and user. device_id is the
// device whose access token set it.
const pushersSchema = `
CREATE TABLE pushers (
	app_id              TEXT NOT NULL,
	pushkey             TEXT NOT NULL,
	user_id             TEXT NOT NULL,
	kind                TEXT NOT NULL,
	app_display_name    TEXT NOT NULL,
	device_display_name TEXT NOT NULL,
	profile_tag         TEXT NOT NULL,
	lang                TEXT NOT NULL,
	data                TEXT NOT NULL,
	device_id           TEXT NOT NULL,
	created_ts          BIGINT NOT NULL,
	PRIMARY KEY (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id)`

// Pusher is a stored pusher.
type Pusher struct {
	AppID             string
	PushKey           string
	UserID            id.UserID
	Kind              string
	AppDisplayName    string
	DeviceDisplayName string
	ProfileTag        string
	Lang              string
	// Data is the pusher's data object as JSON.
	Data      []byte
	DeviceID  id.DeviceID
	CreatedTS int64
}

const pusherColumns = `app_id, pushkey, user_id, kind, app_display_name, device_display_name, profile_tag, lang, data, device_id, created_ts`

// SetPusher creates or replaces the user's pusher with p's app ID and push
// key; unless appendOthers, the pushers of other users with the same app
// ID and push key go.
func (t *Tx) SetPusher(ctx context.Context, p Pusher, appendOthers bool) error {
	if !appendOthers {
		if _, err := t.q.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3`,
			p.AppID, p.PushKey, string(p.UserID)); err != nil {
			return fmt.Errorf("remove other users' pushers of %s: %w", p.AppID, err)
		}
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO pushers (`+pusherColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET kind = excluded.kind,
			app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
			profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data, device_id = excluded.device_id`,
		p.AppID, p.PushKey, string(p.UserID), p.Kind, p.AppDisplayName, p.DeviceDisplayName, p.ProfileTag, p.Lang,
		string(p.Data), string(p.DeviceID), p.CreatedTS)
	if err != nil {
		return fmt.Errorf("set pusher %s of %s: %w", p.AppID, p.UserID, err)
	}
	return nil
}

// DeletePusher removes the user's pusher with the app ID and push key, if
// there is one.
func (t *Tx) DeletePusher(ctx context.Context, user id.UserID, appID, pushKey string) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id = $3`,
		appID, pushKey, string(user)); err != nil {
		return fmt.Errorf("delete pusher %s of %s: %w", appID, user, err)
	}
	return nil
}

// DeleteDevicePushers removes the pushers the user's devices set.
func (t *Tx) DeleteDevicePushers(ctx context.Context, user id.UserID, devices []id.DeviceID) error {
	for _, d := range devices {
		if _, err := t.q.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1 AND device_id = $2`, string(user), string(d)); err != nil {
			return fmt.Errorf("delete pushers of %s's device %s: %w", user, d, err)
		}
	}
	return nil
}

// Pushers returns the user's pushers, oldest first.
func (r reader) Pushers(ctx context.Context, user id.UserID) ([]Pusher, error) {
	var out []Pusher
	err := r.scanRows(ctx, `SELECT `+pusherColumns+` FROM pushers WHERE user_id = $1 ORDER BY created_ts, app_id, pushkey`,
		[]any{string(user)}, func(scan func(...any) error) error {
			var p Pusher
			var data string
			if err := scan(&p.AppID, &p.PushKey, &p.UserID, &p.Kind, &p.AppDisplayName, &p.DeviceDisplayName,
				&p.ProfileTag, &p.Lang, &data, &p.DeviceID, &p.CreatedTS); err != nil {
				return err
			}
			p.Data = []byte(data)
			out = append(out, p)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load pushers of %s: %w", user, err)
	}
	return out, nil
}
