package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/id"
)

// federation_edu_queue holds the EDUs still to be sent to each destination
// server, in the order they were queued: receipts, device list and
// signing key updates and to-device messages. (Typing notifications are
// ephemeral and live in the sender's memory only.) Services write an
// EDU's entries in the same transaction as the change it announces, so
// none is lost across a crash; txn_id marks the entries of the
// transaction in flight, as in federation_queue.
const federationEDUQueueSchema = `
CREATE TABLE federation_edu_queue (
	edu_id      {{bigserial_pk}},
	destination TEXT NOT NULL,
	edu_type    TEXT NOT NULL,
	content     TEXT NOT NULL,
	txn_id      TEXT
);
CREATE INDEX federation_edu_queue_destination ON federation_edu_queue (destination, edu_id)`

// QueuedEDU is one entry of a destination's EDU queue.
type QueuedEDU struct {
	ID      int64
	Type    string
	Content []byte
}

// EnqueueEDU adds an EDU of type eduType to the queue of each destination.
func (t *Tx) EnqueueEDU(ctx context.Context, dests []id.ServerName, eduType string, content []byte) error {
	for _, d := range dests {
		if _, err := t.q.ExecContext(ctx, `
			INSERT INTO federation_destinations (destination) VALUES ($1)
			ON CONFLICT (destination) DO NOTHING`, string(d)); err != nil {
			return fmt.Errorf("record destination %s: %w", d, err)
		}
		if _, err := t.q.ExecContext(ctx, `
			INSERT INTO federation_edu_queue (destination, edu_type, content) VALUES ($1, $2, $3)`,
			string(d), eduType, string(content)); err != nil {
			return fmt.Errorf("queue %s for %s: %w", eduType, d, err)
		}
	}
	return nil
}

// InFlightEDUs returns the EDUs of the destination's transaction txnID,
// or, when txnID is "", those of any transaction in flight and its ID.
func (r reader) InFlightEDUs(ctx context.Context, dest id.ServerName, txnID string) (string, []QueuedEDU, error) {
	query := `SELECT edu_id, edu_type, content, txn_id FROM federation_edu_queue
		WHERE destination = $1 AND txn_id IS NOT NULL`
	args := []any{string(dest)}
	if txnID != "" {
		query += ` AND txn_id = $2`
		args = append(args, txnID)
	}
	rows, err := r.q.QueryContext(ctx, query+` ORDER BY edu_id`, args...)
	if err != nil {
		return "", nil, fmt.Errorf("load edus in flight to %s: %w", dest, err)
	}
	defer rows.Close()
	var out []QueuedEDU
	for rows.Next() {
		var e QueuedEDU
		var content, txn string
		if err := rows.Scan(&e.ID, &e.Type, &content, &txn); err != nil {
			return "", nil, fmt.Errorf("load edus in flight to %s: %w", dest, err)
		}
		if txnID == "" {
			txnID = txn
		}
		if txn == txnID {
			e.Content = []byte(content)
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("load edus in flight to %s: %w", dest, err)
	}
	return txnID, out, nil
}

// QueuedEDUs returns up to limit EDUs of a destination's queue that are in
// no transaction yet, oldest first.
func (r reader) QueuedEDUs(ctx context.Context, dest id.ServerName, limit int) ([]QueuedEDU, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT edu_id, edu_type, content FROM federation_edu_queue
		WHERE destination = $1 AND txn_id IS NULL ORDER BY edu_id LIMIT $2`, string(dest), limit)
	if err != nil {
		return nil, fmt.Errorf("load edu queue of %s: %w", dest, err)
	}
	defer rows.Close()
	var out []QueuedEDU
	for rows.Next() {
		var e QueuedEDU
		var content string
		if err := rows.Scan(&e.ID, &e.Type, &content); err != nil {
			return nil, fmt.Errorf("load edu queue of %s: %w", dest, err)
		}
		e.Content = []byte(content)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load edu queue of %s: %w", dest, err)
	}
	return out, nil
}

// StartEDUTransaction marks the EDUs of a destination's queue with the
// given IDs as part of the transaction txnID.
func (t *Tx) StartEDUTransaction(ctx context.Context, dest id.ServerName, txnID string, ids []int64) error {
	for _, eduID := range ids {
		if _, err := t.q.ExecContext(ctx, `
			UPDATE federation_edu_queue SET txn_id = $1 WHERE destination = $2 AND edu_id = $3`,
			txnID, string(dest), eduID); err != nil {
			return fmt.Errorf("start transaction %s to %s: %w", txnID, dest, err)
		}
	}
	return nil
}

// ServersSharingRooms returns the servers other than self with a user
// joined to a room user is joined to, sorted.
func (r reader) ServersSharingRooms(ctx context.Context, user id.UserID, self id.ServerName) ([]id.ServerName, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT DISTINCT m.user_id FROM memberships me JOIN memberships m ON m.room_id = me.room_id
		WHERE me.user_id = $1 AND me.membership = 'join' AND m.membership = 'join'`, string(user))
	if err != nil {
		return nil, fmt.Errorf("servers sharing a room with %s: %w", user, err)
	}
	return serversOf(rows, self, fmt.Sprintf("servers sharing a room with %s", user))
}

// SharesRoomWithServer reports whether user is joined to a room that a
// user of server is joined to.
func (r reader) SharesRoomWithServer(ctx context.Context, user id.UserID, server id.ServerName) (bool, error) {
	suffix := ":" + string(server)
	var one int
	err := r.q.QueryRowContext(ctx, `
		SELECT 1 FROM memberships me JOIN memberships m ON m.room_id = me.room_id
		WHERE me.user_id = $1 AND me.membership = 'join' AND m.membership = 'join'
			AND substr(m.user_id, length(m.user_id) - $3 + 1) = $2
		LIMIT 1`, string(user), suffix, utf8.RuneCountInString(suffix)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rooms %s shares with %s: %w", user, server, err)
	}
	return true, nil
}

// LocalUsersSharingRooms returns the users of server self other than user
// who are joined to a room user is joined to.
func (r reader) LocalUsersSharingRooms(ctx context.Context, user id.UserID, self id.ServerName) ([]id.UserID, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT DISTINCT m.user_id FROM memberships me JOIN memberships m ON m.room_id = me.room_id
		WHERE me.user_id = $1 AND me.membership = 'join' AND m.membership = 'join' AND m.user_id <> $1`, string(user))
	if err != nil {
		return nil, fmt.Errorf("users sharing a room with %s: %w", user, err)
	}
	defer rows.Close()
	var out []id.UserID
	for rows.Next() {
		var u id.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("users sharing a room with %s: %w", user, err)
		}
		if u.Domain() == self {
			out = append(out, u)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users sharing a room with %s: %w", user, err)
	}
	return out, nil
}

// JoinedServers returns the servers other than self with a user joined to
// the room, sorted. The database leaves out self's users, so a room of
// local users (every read receipt asks) costs no rows.
func (r reader) JoinedServers(ctx context.Context, roomID id.RoomID, self id.ServerName) ([]id.ServerName, error) {
	suffix := ":" + string(self)
	rows, err := r.q.QueryContext(ctx, `
		SELECT user_id FROM memberships WHERE room_id = $1 AND membership = 'join'
			AND substr(user_id, length(user_id) - $3 + 1) <> $2`,
		string(roomID), suffix, utf8.RuneCountInString(suffix))
	if err != nil {
		return nil, fmt.Errorf("servers in %s: %w", roomID, err)
	}
	return serversOf(rows, self, fmt.Sprintf("servers in %s", roomID))
}

// serversOf reads user IDs from rows and returns their servers other than
// self, sorted, each once.
func serversOf(rows rowIter, self id.ServerName, what string) ([]id.ServerName, error) {
	defer rows.Close()
	seen := map[id.ServerName]bool{}
	var out []id.ServerName
	for rows.Next() {
		var u id.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if d := u.Domain(); d != "" && d != self && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	slices.Sort(out)
	return out, nil
}
