package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// forgotten_rooms records the rooms a user has forgotten (POST
// /rooms/{roomId}/forget). stream_pos is the position of the membership
// event (a leave or ban) the user forgot: a forget holds only while that
// membership is the user's current one, so a later join, invite or knock
// ends it without the event path touching this table.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#leaving-rooms
const forgottenRoomsSchema = `
CREATE TABLE forgotten_rooms (
	user_id    TEXT NOT NULL,
	room_id    TEXT NOT NULL,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (user_id, room_id)
)`

// ForgetRoom marks the room as forgotten by the user, as of the user's
// current membership, which must be "leave" or "ban": otherwise, and when the user never
// had a membership of the room, it returns an error wrapping ErrNotFound.
// Forgetting a room again after a later leave moves the mark to that leave.
func (t *Tx) ForgetRoom(ctx context.Context, userID id.UserID, roomID id.RoomID) error {
	// The membership is read in the same statement, so a join committed
	// just before cannot be forgotten by mistake.
	res, err := t.q.ExecContext(ctx, `
		INSERT INTO forgotten_rooms (user_id, room_id, stream_pos)
		SELECT user_id, room_id, stream_pos FROM memberships
		WHERE user_id = $1 AND room_id = $2 AND membership IN ('leave', 'ban')
		ON CONFLICT (user_id, room_id) DO UPDATE SET stream_pos = excluded.stream_pos`,
		string(userID), string(roomID))
	if err != nil {
		return fmt.Errorf("forget %s for %s: %w", roomID, userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("forget %s for %s: rows affected: %w", roomID, userID, err)
	}
	if n == 0 {
		return fmt.Errorf("forget %s for %s: no leave or ban to forget: %w", roomID, userID, ErrNotFound)
	}
	return nil
}

// ForgottenRooms returns the rooms the user has forgotten and not joined,
// been invited to or knocked on since, ordered by room ID.
func (r reader) ForgottenRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error) {
	var out []id.RoomID
	err := r.scanRows(ctx, `
		SELECT f.room_id FROM forgotten_rooms f
		JOIN memberships m ON m.user_id = f.user_id AND m.room_id = f.room_id
		WHERE f.user_id = $1 AND m.stream_pos <= f.stream_pos
		ORDER BY f.room_id`,
		[]any{string(userID)},
		func(scan func(...any) error) error {
			var roomID id.RoomID
			if err := scan(&roomID); err != nil {
				return err
			}
			out = append(out, roomID)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load forgotten rooms of %s: %w", userID, err)
	}
	return out, nil
}

// HasForgotten reports whether the user has forgotten the room and not
// joined, been invited to or knocked on it since.
func (r reader) HasForgotten(ctx context.Context, userID id.UserID, roomID id.RoomID) (bool, error) {
	var n int
	err := r.q.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM forgotten_rooms f
		JOIN memberships m ON m.user_id = f.user_id AND m.room_id = f.room_id
		WHERE f.user_id = $1 AND f.room_id = $2 AND m.stream_pos <= f.stream_pos`,
		string(userID), string(roomID)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read whether %s forgot %s: %w", userID, roomID, err)
	}
	return n > 0, nil
}
