package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

const usersSchema = `
CREATE TABLE users (
	user_id       TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL DEFAULT '',
	is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
	deactivated   BOOLEAN NOT NULL DEFAULT FALSE,
	created_ts    BIGINT NOT NULL,
	displayname   TEXT,
	avatar_url    TEXT
)`

// usersErasedSchema marks the accounts deactivated with "erase": users
// who join their rooms later are served redacted copies of their events.
const usersErasedSchema = `ALTER TABLE users ADD COLUMN erased BOOLEAN NOT NULL DEFAULT FALSE`

// User is a local account. An empty PasswordHash means the account cannot
// log in with a password; an empty DisplayName or AvatarURL means unset.
type User struct {
	UserID       id.UserID
	PasswordHash string
	IsAdmin      bool
	Deactivated  bool
	CreatedTS    int64
	DisplayName  string
	AvatarURL    string
}

// CreateUser creates a local account. It returns an error wrapping
// ErrExists if the user ID is taken.
func (t *Tx) CreateUser(ctx context.Context, u User) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO users (user_id, password_hash, is_admin, deactivated, created_ts, displayname, avatar_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		string(u.UserID), u.PasswordHash, u.IsAdmin, u.Deactivated, u.CreatedTS,
		nullString(u.DisplayName), nullString(u.AvatarURL))
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("create user %s: %w", u.UserID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.UserID, err)
	}
	return nil
}

// User returns a local account, or an error wrapping ErrNotFound.
func (r reader) User(ctx context.Context, userID id.UserID) (User, error) {
	var u User
	var displayName, avatarURL sql.NullString
	err := r.q.QueryRowContext(ctx, `
		SELECT user_id, password_hash, is_admin, deactivated, created_ts, displayname, avatar_url
		FROM users WHERE user_id = $1`, string(userID)).
		Scan(&u.UserID, &u.PasswordHash, &u.IsAdmin, &u.Deactivated, &u.CreatedTS, &displayName, &avatarURL)
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", userID, notFound(err))
	}
	u.DisplayName, u.AvatarURL = displayName.String, avatarURL.String
	return u, nil
}

// Users returns up to limit local accounts with user IDs after since (""
// for the first page), ordered by user ID.
func (r reader) Users(ctx context.Context, since id.UserID, limit int) ([]User, error) {
	var out []User
	err := r.scanRows(ctx, `
		SELECT user_id, password_hash, is_admin, deactivated, created_ts, displayname, avatar_url
		FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2`,
		[]any{string(since), limit},
		func(scan func(...any) error) error {
			var u User
			var displayName, avatarURL sql.NullString
			if err := scan(&u.UserID, &u.PasswordHash, &u.IsAdmin, &u.Deactivated, &u.CreatedTS, &displayName, &avatarURL); err != nil {
				return err
			}
			u.DisplayName, u.AvatarURL = displayName.String, avatarURL.String
			out = append(out, u)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetPasswordHash replaces a user's password hash.
func (t *Tx) SetPasswordHash(ctx context.Context, userID id.UserID, hash string) error {
	return t.updateUser(ctx, "set password of", `UPDATE users SET password_hash = $1 WHERE user_id = $2`, hash, userID)
}

// SetDisplayName sets a user's global display name; "" removes it.
func (t *Tx) SetDisplayName(ctx context.Context, userID id.UserID, name string) error {
	return t.updateUser(ctx, "set displayname of", `UPDATE users SET displayname = $1 WHERE user_id = $2`, nullString(name), userID)
}

// SetAvatarURL sets a user's global avatar URL; "" removes it.
func (t *Tx) SetAvatarURL(ctx context.Context, userID id.UserID, url string) error {
	return t.updateUser(ctx, "set avatar_url of", `UPDATE users SET avatar_url = $1 WHERE user_id = $2`, nullString(url), userID)
}

// SetAdmin grants or revokes server admin rights.
func (t *Tx) SetAdmin(ctx context.Context, userID id.UserID, admin bool) error {
	return t.updateUser(ctx, "set admin flag of", `UPDATE users SET is_admin = $1 WHERE user_id = $2`, admin, userID)
}

// DeactivateUser marks an account deactivated, removes its password hash
// and deletes its devices, access tokens, pushers and OpenID tokens.
func (t *Tx) DeactivateUser(ctx context.Context, userID id.UserID) error {
	if err := t.updateUser(ctx, "deactivate", `UPDATE users SET deactivated = TRUE, password_hash = '' WHERE user_id = $1`, nil, userID); err != nil {
		return err
	}
	// A third party may no longer learn the user's ID from an OpenID
	// token.
	if _, err := t.q.ExecContext(ctx, `DELETE FROM short_tokens WHERE user_id = $1 AND kind = $2`, string(userID), ShortTokenOpenID); err != nil {
		return fmt.Errorf("revoke OpenID tokens of %s: %w", userID, err)
	}
	devices, err := t.Devices(ctx, userID)
	if err != nil {
		return err
	}
	// Access tokens go with their devices (ON DELETE CASCADE); pushers
	// go too.
	if _, err := t.q.ExecContext(ctx, `DELETE FROM devices WHERE user_id = $1`, string(userID)); err != nil {
		return fmt.Errorf("delete devices of %s: %w", userID, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM pushers WHERE user_id = $1`, string(userID)); err != nil {
		return fmt.Errorf("delete pushers of %s: %w", userID, err)
	}
	for _, d := range devices {
		if _, err := t.AddDeviceListChange(ctx, userID, string(d.DeviceID)); err != nil {
			return err
		}
	}
	if len(devices) == 0 {
		_, err = t.AddDeviceListChange(ctx, userID, "")
	}
	return err
}

// EraseUserData removes the non-event data an account deactivated with
// "erase" leaves behind: the global profile (displayname, avatar_url,
// extended fields), the sync filters and the account data, global and per
// room (tags, push rules and read markers included). It marks the account
// as erased (see ErasedUsers). A user without an account row has none,
// which is not an error.
func (t *Tx) EraseUserData(ctx context.Context, userID id.UserID) error {
	if _, err := t.q.ExecContext(ctx, `UPDATE users SET displayname = NULL, avatar_url = NULL, erased = TRUE WHERE user_id = $1`, string(userID)); err != nil {
		return fmt.Errorf("erase profile of %s: %w", userID, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM profile_fields WHERE user_id = $1`, string(userID)); err != nil {
		return fmt.Errorf("erase profile fields of %s: %w", userID, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM filters WHERE user_id = $1`, string(userID)); err != nil {
		return fmt.Errorf("erase filters of %s: %w", userID, err)
	}
	if err := t.DeleteAccountData(ctx, userID); err != nil {
		return fmt.Errorf("erase account data of %s: %w", userID, err)
	}
	return nil
}

// ErasedUsers returns which of users are local accounts deactivated with
// "erase" (Tx.EraseUserData): users and servers that were not in a room
// when such a user sent an event there are served a redacted copy of it.
func (r reader) ErasedUsers(ctx context.Context, users []id.UserID) (map[id.UserID]bool, error) {
	out := map[id.UserID]bool{}
	err := queryList(ctx, r, `SELECT user_id FROM users WHERE erased AND user_id `+anyList(1), nil, idStrings(users),
		func(scan func(...any) error) error {
			var u string
			if err := scan(&u); err != nil {
				return err
			}
			out[id.UserID(u)] = true
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read erased users: %w", err)
	}
	return out, nil
}

// updateUser runs an UPDATE of one user row whose last parameter is the
// user ID; value, unless nil, is the first. It returns an error wrapping
// ErrNotFound if the user does not exist.
func (t *Tx) updateUser(ctx context.Context, what, query string, value any, userID id.UserID) error {
	args := []any{string(userID)}
	if value != nil {
		args = []any{value, string(userID)}
	}
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, userID, err)
	}
	return expectRow(res, fmt.Sprintf("%s %s", what, userID))
}
