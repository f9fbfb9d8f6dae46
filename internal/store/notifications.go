package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// notifications are the events whose push rules told a local user to be
// notified, with the rule's actions, for /notifications. The push
// consumer writes them (in the transaction that advances its stream
// position) for events of others in rooms the user is joined to.
const notificationsSchema = `
CREATE TABLE notifications (
	user_id    TEXT NOT NULL,
	stream_pos BIGINT NOT NULL,
	room_id    TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	actions    TEXT NOT NULL,
	highlight  BOOLEAN NOT NULL,
	ts         BIGINT NOT NULL,
	PRIMARY KEY (user_id, stream_pos)
);
CREATE INDEX notifications_highlight ON notifications (user_id, highlight, stream_pos)`

// Notification is one stored notification.
type Notification struct {
	UserID    id.UserID
	StreamPos int64
	RoomID    id.RoomID
	EventID   id.EventID
	// Actions is the matching rule's actions as a JSON array.
	Actions   []byte
	Highlight bool
	TS        int64
	// Read is set by Notifications: the user has a read receipt in the
	// room for this event or a later one.
	Read bool
}

// AddNotifications stores notifications; one already stored (the same
// user and stream position) is kept.
func (t *Tx) AddNotifications(ctx context.Context, ns []Notification) error {
	args := make([]any, 0, 7*len(ns))
	for _, n := range ns {
		args = append(args, string(n.UserID), n.StreamPos, string(n.RoomID), string(n.EventID), string(n.Actions), n.Highlight, n.TS)
	}
	err := t.insertRows(ctx, `INSERT INTO notifications (user_id, stream_pos, room_id, event_id, actions, highlight, ts)`,
		` ON CONFLICT (user_id, stream_pos) DO NOTHING`, 7, args)
	if err != nil {
		return fmt.Errorf("store %d notifications: %w", len(ns), err)
	}
	return nil
}

// Notifications returns the user's notifications before stream position
// before (all when 0), newest first, at most limit, only highlights when
// onlyHighlight; Read tells whether a read receipt of the user in the
// room (public or private, any thread) points at the event or a later one.
func (r reader) Notifications(ctx context.Context, user id.UserID, before int64, limit int, onlyHighlight bool) ([]Notification, error) {
	if before <= 0 {
		before = 1 << 62
	}
	query := `
		SELECT n.user_id, n.stream_pos, n.room_id, n.event_id, n.actions, n.highlight, n.ts,
			EXISTS (SELECT 1 FROM receipts rc JOIN events re ON re.event_id = rc.event_id
				WHERE rc.room_id = n.room_id AND rc.user_id = n.user_id
					AND rc.receipt_type IN ('m.read', 'm.read.private') AND re.stream_pos >= n.stream_pos) AS is_read
		FROM notifications n
		WHERE n.user_id = $1 AND n.stream_pos < $2`
	if onlyHighlight {
		query += ` AND n.highlight`
	}
	query += ` ORDER BY n.stream_pos DESC LIMIT $3`
	var out []Notification
	err := r.scanRows(ctx, query, []any{string(user), before, limit}, func(scan func(...any) error) error {
		var n Notification
		var actions string
		if err := scan(&n.UserID, &n.StreamPos, &n.RoomID, &n.EventID, &actions, &n.Highlight, &n.TS, &n.Read); err != nil {
			return err
		}
		n.Actions = []byte(actions)
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load notifications of %s: %w", user, err)
	}
	return out, nil
}

// LocalJoinedMembers returns the users of server joined to the room.
func (r reader) LocalJoinedMembers(ctx context.Context, roomID id.RoomID, server id.ServerName) ([]id.UserID, error) {
	var out []id.UserID
	err := r.scanRows(ctx, `SELECT user_id FROM memberships WHERE room_id = $1 AND membership = 'join' AND user_id LIKE $2 ESCAPE '\'`,
		[]any{string(roomID), "%:" + escapeLike(string(server))}, func(scan func(...any) error) error {
			var u id.UserID
			if err := scan(&u); err != nil {
				return err
			}
			if u.Domain() == server {
				out = append(out, u)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load local members of %s: %w", roomID, err)
	}
	return out, nil
}
