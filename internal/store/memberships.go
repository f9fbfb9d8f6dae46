package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// memberships is the membership part of current_state, one row per room
// and user, indexed by user for joined_rooms and sync. stream_pos is the
// position of the membership event, so sync can find what changed.
const membershipsSchema = `
CREATE TABLE memberships (
	room_id    TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	membership TEXT NOT NULL,
	event_nid  BIGINT NOT NULL REFERENCES events (event_nid),
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, membership);
CREATE INDEX memberships_user_stream ON memberships (user_id, stream_pos)`

// Member is a user's current membership of a room.
type Member struct {
	RoomID     id.RoomID
	UserID     id.UserID
	Membership string // "join", "invite", "leave", "ban" or "knock"
	EventNID   int64
	StreamPos  int64
}

const memberColumns = `room_id, user_id, membership, event_nid, stream_pos`

// SetMembership records a user's current membership of a room, from the
// m.room.member event nid at streamPos. The statement may be queued (see
// Tx.execLater).
func (t *Tx) SetMembership(ctx context.Context, m Member) error {
	return t.execLater(ctx, fmt.Sprintf("set membership of %s in %s", m.UserID, m.RoomID), `
		INSERT INTO memberships (`+memberColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (room_id, user_id) DO UPDATE SET
			membership = excluded.membership, event_nid = excluded.event_nid, stream_pos = excluded.stream_pos`,
		string(m.RoomID), string(m.UserID), m.Membership, m.EventNID, m.StreamPos)
}

// Membership returns a user's membership of a room, or an error wrapping
// ErrNotFound if the user never had one.
func (r reader) Membership(ctx context.Context, roomID id.RoomID, userID id.UserID) (Member, error) {
	var m Member
	err := r.q.QueryRowContext(ctx,
		`SELECT `+memberColumns+` FROM memberships WHERE room_id = $1 AND user_id = $2`, string(roomID), string(userID)).
		Scan(&m.RoomID, &m.UserID, &m.Membership, &m.EventNID, &m.StreamPos)
	if err != nil {
		return Member{}, fmt.Errorf("load membership of %s in %s: %w", userID, roomID, notFound(err))
	}
	return m, nil
}

// JoinedRooms returns the rooms a user is joined to, ordered by room ID.
func (r reader) JoinedRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error) {
	ms, err := r.queryMembers(ctx,
		`SELECT `+memberColumns+` FROM memberships WHERE user_id = $1 AND membership = 'join' ORDER BY room_id`,
		string(userID))
	if err != nil {
		return nil, fmt.Errorf("load joined rooms of %s: %w", userID, err)
	}
	out := make([]id.RoomID, len(ms))
	for i, m := range ms {
		out[i] = m.RoomID
	}
	return out, nil
}

// UserMemberships returns a user's memberships with the given membership
// ("invite", "leave", …), ordered by room ID.
func (r reader) UserMemberships(ctx context.Context, userID id.UserID, membership string) ([]Member, error) {
	ms, err := r.queryMembers(ctx,
		`SELECT `+memberColumns+` FROM memberships WHERE user_id = $1 AND membership = $2 ORDER BY room_id`,
		string(userID), membership)
	if err != nil {
		return nil, fmt.Errorf("load %s memberships of %s: %w", membership, userID, err)
	}
	return ms, nil
}

// UserMembershipsSince returns a user's memberships that changed after
// stream position pos, oldest change first, for sync.
func (r reader) UserMembershipsSince(ctx context.Context, userID id.UserID, pos int64) ([]Member, error) {
	ms, err := r.queryMembers(ctx,
		`SELECT `+memberColumns+` FROM memberships WHERE user_id = $1 AND stream_pos > $2 ORDER BY stream_pos`,
		string(userID), pos)
	if err != nil {
		return nil, fmt.Errorf("load memberships of %s since %d: %w", userID, pos, err)
	}
	return ms, nil
}

// RoomMembers returns every membership of a room, ordered by user ID.
func (r reader) RoomMembers(ctx context.Context, roomID id.RoomID) ([]Member, error) {
	ms, err := r.queryMembers(ctx,
		`SELECT `+memberColumns+` FROM memberships WHERE room_id = $1 ORDER BY user_id`, string(roomID))
	if err != nil {
		return nil, fmt.Errorf("load members of %s: %w", roomID, err)
	}
	return ms, nil
}

// JoinedMembers returns the users joined to a room, ordered by user ID.
func (r reader) JoinedMembers(ctx context.Context, roomID id.RoomID) ([]id.UserID, error) {
	ms, err := r.queryMembers(ctx,
		`SELECT `+memberColumns+` FROM memberships WHERE room_id = $1 AND membership = 'join' ORDER BY user_id`,
		string(roomID))
	if err != nil {
		return nil, fmt.Errorf("load joined members of %s: %w", roomID, err)
	}
	out := make([]id.UserID, len(ms))
	for i, m := range ms {
		out[i] = m.UserID
	}
	return out, nil
}

func (r reader) queryMembers(ctx context.Context, query string, args ...any) ([]Member, error) {
	var out []Member
	err := r.scanRows(ctx, query, args, func(scan func(...any) error) error {
		var m Member
		if err := scan(&m.RoomID, &m.UserID, &m.Membership, &m.EventNID, &m.StreamPos); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// SharesRoom reports whether the two users are both joined to some room.
func (r reader) SharesRoom(ctx context.Context, a, b id.UserID) (bool, error) {
	var n int64
	err := r.q.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM (SELECT 1 FROM memberships x JOIN memberships y ON x.room_id = y.room_id
		WHERE x.user_id = $1 AND x.membership = 'join' AND y.user_id = $2 AND y.membership = 'join' LIMIT 1) AS shared`,
		string(a), string(b)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up rooms shared by %s and %s: %w", a, b, err)
	}
	return n > 0, nil
}

// JoinCandidates returns the users other than user who are joined to a
// room user is joined to, where one of the two joined at a stream
// position in (after, upTo]: users who may have started sharing a room
// with user in that range.
func (r reader) JoinCandidates(ctx context.Context, user id.UserID, after, upTo int64) ([]id.UserID, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT m.user_id FROM memberships m JOIN memberships me ON me.room_id = m.room_id
		WHERE me.user_id = $1 AND me.membership = 'join'
			AND m.membership = 'join' AND m.stream_pos > $2 AND m.stream_pos <= $3 AND m.user_id <> $1
		UNION
		SELECT m.user_id FROM memberships me JOIN memberships m ON m.room_id = me.room_id
		WHERE me.user_id = $1 AND me.membership = 'join' AND me.stream_pos > $2 AND me.stream_pos <= $3
			AND m.membership = 'join' AND m.user_id <> $1`, string(user), after, upTo)
	if err != nil {
		return nil, fmt.Errorf("users joining rooms of %s: %w", user, err)
	}
	defer rows.Close()
	var out []id.UserID
	for rows.Next() {
		var u id.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("users joining rooms of %s: %w", user, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users joining rooms of %s: %w", user, err)
	}
	return out, nil
}

// LeaveCandidates returns the users who may have stopped sharing a room
// with user at stream positions in (after, upTo]: those whose current
// membership of a room user is joined to became leave or ban in that
// range, and those joined to a room user left or was banned from in that
// range. Whether they still share another room is the caller's question.
func (r reader) LeaveCandidates(ctx context.Context, user id.UserID, after, upTo int64) ([]id.UserID, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT m.user_id FROM memberships m JOIN memberships me ON me.room_id = m.room_id
		WHERE me.user_id = $1 AND me.membership = 'join'
			AND m.membership IN ('leave', 'ban') AND m.stream_pos > $2 AND m.stream_pos <= $3
		UNION
		SELECT m.user_id FROM memberships me JOIN memberships m ON m.room_id = me.room_id
		WHERE me.user_id = $1 AND me.membership IN ('leave', 'ban') AND me.stream_pos > $2 AND me.stream_pos <= $3
			AND m.membership = 'join'`, string(user), after, upTo)
	if err != nil {
		return nil, fmt.Errorf("look up users who left rooms shared with %s: %w", user, err)
	}
	defer rows.Close()
	var out []id.UserID
	for rows.Next() {
		var u id.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("look up users who left rooms shared with %s: %w", user, err)
		}
		if u != user {
			out = append(out, u)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up users who left rooms shared with %s: %w", user, err)
	}
	return out, nil
}
