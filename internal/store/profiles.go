package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// profile_updates lists the users whose profile changed and whose join
// events have not all been brought up to date yet. A change bumps the
// generation; the propagation worker deletes the row only when the
// generation it started from is still the current one, so a newer change
// made meanwhile is never lost, and rows left by a stop are picked up at
// the next start.
const profileUpdatesSchema = `
CREATE TABLE profile_updates (
	user_id    TEXT PRIMARY KEY,
	generation BIGINT NOT NULL
)`

// profile_fields holds the extended profile fields of local users (spec
// v1.16): every field but displayname and avatar_url, which live in users.
// value is the field's JSON value.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#profiles
const profileFieldsSchema = `
CREATE TABLE profile_fields (
	user_id  TEXT NOT NULL,
	key_name TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (user_id, key_name)
)`

// ProfileUpdate is a pending profile propagation.
type ProfileUpdate struct {
	User       id.UserID
	Generation int64
}

// QueueProfileUpdate records that a user's profile changed and their join
// events need updating.
func (t *Tx) QueueProfileUpdate(ctx context.Context, user id.UserID) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO profile_updates (user_id, generation) VALUES ($1, 1)
		ON CONFLICT (user_id) DO UPDATE SET generation = profile_updates.generation + 1`,
		string(user))
	if err != nil {
		return fmt.Errorf("queue profile update of %s: %w", user, err)
	}
	return nil
}

// PendingProfileUpdates returns up to limit pending profile propagations,
// ordered by user ID.
func (r reader) PendingProfileUpdates(ctx context.Context, limit int) ([]ProfileUpdate, error) {
	var out []ProfileUpdate
	err := r.scanRows(ctx, `SELECT user_id, generation FROM profile_updates ORDER BY user_id LIMIT $1`,
		[]any{limit}, func(scan func(...any) error) error {
			var u ProfileUpdate
			var user string
			if err := scan(&user, &u.Generation); err != nil {
				return err
			}
			u.User = id.UserID(user)
			out = append(out, u)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list pending profile updates: %w", err)
	}
	return out, nil
}

// FinishProfileUpdate removes a pending propagation if its generation is
// still gen; a newer change keeps it pending.
func (t *Tx) FinishProfileUpdate(ctx context.Context, u ProfileUpdate) error {
	_, err := t.q.ExecContext(ctx, `DELETE FROM profile_updates WHERE user_id = $1 AND generation = $2`,
		string(u.User), u.Generation)
	if err != nil {
		return fmt.Errorf("finish profile update of %s: %w", u.User, err)
	}
	return nil
}

// ProfileFields returns a user's extended profile fields: key → JSON value.
func (r reader) ProfileFields(ctx context.Context, user id.UserID) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := r.scanRows(ctx, `SELECT key_name, value FROM profile_fields WHERE user_id = $1`,
		[]any{string(user)}, func(scan func(...any) error) error {
			var key, val string
			if err := scan(&key, &val); err != nil {
				return err
			}
			out[key] = json.RawMessage(val)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load profile fields of %s: %w", user, err)
	}
	return out, nil
}

// SetProfileField stores one extended profile field of a user.
func (t *Tx) SetProfileField(ctx context.Context, user id.UserID, key string, val json.RawMessage) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO profile_fields (user_id, key_name, value) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, key_name) DO UPDATE SET value = excluded.value`,
		string(user), key, string(val))
	if err != nil {
		return fmt.Errorf("set profile field %s of %s: %w", key, user, err)
	}
	return nil
}

// DeleteProfileField removes one extended profile field of a user.
func (t *Tx) DeleteProfileField(ctx context.Context, user id.UserID, key string) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM profile_fields WHERE user_id = $1 AND key_name = $2`,
		string(user), key); err != nil {
		return fmt.Errorf("delete profile field %s of %s: %w", key, user, err)
	}
	return nil
}
