package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// remote_invites holds the invites of local users to rooms this server is
// not in: the invite event itself is stored in events (with a stream
// position, so sync hears of it) and as the user's membership; this table
// keeps the stripped state of the room that the inviting server sent
// along (invite_room_state), a JSON array, for the invite's sync entry,
// and the room's version. A rejected invite keeps its row, with the
// leave's event ID and no stripped state, so the version stays known.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#inviting-to-a-room
const remoteInvitesSchema = `
CREATE TABLE remote_invites (
	room_id      TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	room_version TEXT NOT NULL,
	invite_state {{bytes}} NOT NULL,
	PRIMARY KEY (room_id, user_id)
)`

// RemoteInvite is an invite of a local user to a room this server is not
// in.
type RemoteInvite struct {
	RoomID      id.RoomID
	UserID      id.UserID
	EventID     id.EventID
	RoomVersion string
	// InviteState is the stripped state the inviting server sent, a JSON
	// array.
	InviteState []byte
}

// PutRemoteInvite records the stripped state of an invite, replacing an
// earlier invite of the user to the room.
func (t *Tx) PutRemoteInvite(ctx context.Context, ri RemoteInvite) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO remote_invites (room_id, user_id, event_id, room_version, invite_state)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (room_id, user_id) DO UPDATE SET event_id = excluded.event_id,
			room_version = excluded.room_version, invite_state = excluded.invite_state`,
		string(ri.RoomID), string(ri.UserID), string(ri.EventID), ri.RoomVersion, ri.InviteState)
	if err != nil {
		return fmt.Errorf("store invite of %s to %s: %w", ri.UserID, ri.RoomID, err)
	}
	return nil
}

// DeleteRemoteInvites forgets the stripped state of every invite to a
// room, once this server is in it.
func (t *Tx) DeleteRemoteInvites(ctx context.Context, roomID id.RoomID) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM remote_invites WHERE room_id = $1`, string(roomID)); err != nil {
		return fmt.Errorf("delete invites to %s: %w", roomID, err)
	}
	return nil
}

// RemoteInvite returns the user's invite to a room this server is not in,
// or an error wrapping ErrNotFound.
func (r reader) RemoteInvite(ctx context.Context, roomID id.RoomID, user id.UserID) (RemoteInvite, error) {
	ri := RemoteInvite{RoomID: roomID, UserID: user}
	err := r.q.QueryRowContext(ctx,
		`SELECT event_id, room_version, invite_state FROM remote_invites WHERE room_id = $1 AND user_id = $2`,
		string(roomID), string(user)).Scan(&ri.EventID, &ri.RoomVersion, &ri.InviteState)
	if err != nil {
		return RemoteInvite{}, fmt.Errorf("load invite of %s to %s: %w", user, roomID, notFound(err))
	}
	return ri, nil
}

// RemoteInviteRoomVersion returns the version of a room this server is not
// in as an invite to it gave it, or an error wrapping ErrNotFound.
func (r reader) RemoteInviteRoomVersion(ctx context.Context, roomID id.RoomID) (string, error) {
	var v string
	err := r.q.QueryRowContext(ctx,
		`SELECT room_version FROM remote_invites WHERE room_id = $1 LIMIT 1`, string(roomID)).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("load version of %s: %w", roomID, notFound(err))
	}
	return v, nil
}
