package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// notifications are the events whose push rules told a local user to be
// notified, with the rule's actions, for /notifications. The push
// consumer writes them (in the transaction that advances its stream
// position) for events of others in rooms the user is joined to; they
// live in the derived database (see derived.go).
//
// This first table kept the room, event and timestamp in each row; see
// userNotificationsSchema for the table that replaced it.
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

// userNotificationsSchema holds a notification in as little as
// /notifications needs: the user, the event's stream position (its room,
// ID and timestamp are the event's, read with it) and the actions, which
// are NULL when they are defaultNotificationActions. A busy room writes
// one row per notified member and message, so every byte and every index
// counts: on SQLite the table is its primary key (WITHOUT ROWID), and
// highlights, the few rows only=highlight asks for, have a partial index.
// The rows of the first table move over.
func userNotificationsSchema(d dialect) []string {
	return append(userNotificationsTable(d),
		`INSERT INTO user_notifications (user_id, stream_pos, actions, highlight)
	SELECT user_id, stream_pos, actions, highlight FROM notifications`,
		`DROP TABLE notifications`,
	)
}

// userNotificationsTable returns the statements creating
// user_notifications and its index.
func userNotificationsTable(d dialect) []string {
	rowid := ""
	if d.name() == "sqlite" {
		rowid = " WITHOUT ROWID"
	}
	return []string{
		`CREATE TABLE user_notifications (
	user_id    TEXT NOT NULL,
	stream_pos BIGINT NOT NULL,
	actions    TEXT,
	highlight  BOOLEAN NOT NULL,
	PRIMARY KEY (user_id, stream_pos)
)` + rowid,
		`CREATE INDEX user_notifications_highlight ON user_notifications (user_id, stream_pos) WHERE highlight`,
	}
}

// defaultNotificationActions are the actions most notifications carry
// (those of .m.rule.message and most other default rules); they are
// stored as NULL.
const defaultNotificationActions = `["notify"]`

// Notification is one stored notification.
type Notification struct {
	UserID    id.UserID
	StreamPos int64
	// RoomID, EventID and TS (the event's origin_server_ts) are set by
	// Notifications, from the event; AddNotifications ignores them.
	RoomID  id.RoomID
	EventID id.EventID
	// Actions is the matching rule's actions as a JSON array.
	Actions   []byte
	Highlight bool
	TS        int64
	// Read is set by Notifications: the user has a read receipt in the
	// room for this event or a later one.
	Read bool
}

// AddNotifications stores notifications of events already stored with
// their stream positions; one already stored (the same user and stream
// position) is kept. The rows are written in primary key order, in one
// statement per chunk: ns is sorted in place.
func (t *Tx) AddNotifications(ctx context.Context, ns []Notification) error {
	if len(ns) == 0 {
		return nil
	}
	sorted := ns
	slices.SortFunc(sorted, func(a, b Notification) int {
		if c := strings.Compare(string(a.UserID), string(b.UserID)); c != 0 {
			return c
		}
		return int(min(max(a.StreamPos-b.StreamPos, -1), 1))
	})
	args := make([]any, 0, 4*len(sorted))
	for _, n := range sorted {
		var actions any
		if string(n.Actions) != defaultNotificationActions {
			actions = string(n.Actions)
		}
		args = append(args, string(n.UserID), n.StreamPos, actions, n.Highlight)
	}
	err := t.insertRows(ctx, `INSERT INTO user_notifications (user_id, stream_pos, actions, highlight)`,
		` ON CONFLICT (user_id, stream_pos) DO NOTHING`, 4, args)
	if err != nil {
		return fmt.Errorf("store %d notifications: %w", len(ns), err)
	}
	return nil
}

// PruneNotifications deletes the user's notifications beyond the newest
// keep, and those of events whose origin_server_ts is before olderThan
// (milliseconds since the epoch); it reports how many it deleted. It reads
// only the user's rows.
func (t *Tx) PruneNotifications(ctx context.Context, user id.UserID, keep int, olderThan int64) (int64, error) {
	var total int64
	for _, q := range []struct {
		query string
		arg   any
	}{
		{`DELETE FROM user_notifications WHERE user_id = $1 AND stream_pos <= (
			SELECT stream_pos FROM user_notifications WHERE user_id = $1
			ORDER BY stream_pos DESC LIMIT 1 OFFSET $2)`, keep},
		{`DELETE FROM user_notifications WHERE user_id = $1 AND stream_pos IN (
			SELECT n.stream_pos FROM user_notifications n JOIN events e ON e.stream_pos = n.stream_pos
			WHERE n.user_id = $1 AND e.origin_server_ts < $2)`, olderThan},
	} {
		res, err := t.q.ExecContext(ctx, q.query, string(user), q.arg)
		if err != nil {
			return 0, fmt.Errorf("prune notifications of %s: %w", user, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("prune notifications of %s: %w", user, err)
		}
		total += n
	}
	return total, nil
}

// Notifications returns the user's notifications before stream position
// before (all when 0), newest first, at most limit, only highlights when
// onlyHighlight; Read tells whether a read receipt of the user in the
// room (public or private) points at the event or a later one: an
// unthreaded receipt, or one of the event's thread ("main" for an event
// that is in no thread).
func (r reader) Notifications(ctx context.Context, user id.UserID, before int64, limit int, onlyHighlight bool) ([]Notification, error) {
	if before <= 0 {
		before = 1 << 62
	}
	query := `
		SELECT n.stream_pos, e.room_id, e.event_id, n.actions, n.highlight, e.origin_server_ts,
			EXISTS (SELECT 1 FROM receipts rc JOIN events re ON re.event_id = rc.event_id
				WHERE rc.room_id = e.room_id AND rc.user_id = n.user_id
					AND rc.receipt_type IN ('m.read', 'm.read.private') AND re.stream_pos >= n.stream_pos
					AND (rc.thread_id = '' OR rc.thread_id = COALESCE(
						(SELECT er.relates_to FROM event_relations er WHERE er.event_nid = e.event_nid AND er.rel_type = 'm.thread'),
						'main'))) AS is_read
		FROM user_notifications n JOIN events e ON e.stream_pos = n.stream_pos
		WHERE n.user_id = $1 AND n.stream_pos < $2`
	if onlyHighlight {
		query += ` AND n.highlight`
	}
	query += ` ORDER BY n.stream_pos DESC LIMIT $3`
	var out []Notification
	err := r.scanRows(ctx, query, []any{string(user), before, limit}, func(scan func(...any) error) error {
		n := Notification{UserID: user}
		var actions *string
		if err := scan(&n.StreamPos, &n.RoomID, &n.EventID, &actions, &n.Highlight, &n.TS, &n.Read); err != nil {
			return err
		}
		if actions != nil {
			n.Actions = []byte(*actions)
		} else {
			n.Actions = []byte(defaultNotificationActions)
		}
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
