package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Stream positions order every timeline event of every room in one global
// stream, which sync and /messages page through. A position is allocated
// inside the write transaction that stores the event (see
// dialect.nextStreamPos):
//
//   - On SQLite, the single writer allocates MAX+1. Positions are
//     gap-free and commit in order.
//   - On PostgreSQL, positions come from the sequence stream_pos_seq.
//     Sequences never repeat a number, so several Hafen processes sharing
//     one database can allocate positions without colliding; numbers of
//     rolled-back writes are skipped, so there may be gaps. With one writer
//     per process, positions commit in order. Once several processes write,
//     a position may commit after a higher one, and readers must then stop
//     at the lowest position still in flight across writers (each writer
//     publishing its own) instead of MaxStreamPos.
//
// History fetched from other servers (backfill) gets negative positions,
// allocated downwards from -1 (SQLite: MIN-1; PostgreSQL: the negated
// sequence backfill_pos_seq). Stream readers read after a position >= 0,
// so they never see it as new; /messages and /context order by depth
// first (room_order.go), where it takes its place in the room's history.
//
// NIDs and state group IDs are identity columns (sequences on PostgreSQL)
// for the same reason: they never collide between writers.

// MaxStreamPos returns the highest stream position of a committed event,
// or 0 if there is none.
func (r reader) MaxStreamPos(ctx context.Context) (int64, error) {
	var pos int64
	if err := r.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM events`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("load max stream position: %w", err)
	}
	return pos, nil
}

// StreamEvents returns up to limit timeline events of all rooms with
// after < stream_pos <= upto, oldest first: the committed stream that
// consumers read in order. Callers pass as upto a position the event path
// has published, never more (see the ordering note above).
func (r reader) StreamEvents(ctx context.Context, after, upto int64, limit int) ([]Event, error) {
	events, err := r.queryEvents(ctx, `SELECT `+eventColumns+` FROM events
		WHERE stream_pos > $1 AND stream_pos <= $2 ORDER BY stream_pos ASC LIMIT $3`, after, upto, limit)
	if err != nil {
		return nil, fmt.Errorf("load stream events in (%d, %d]: %w", after, upto, err)
	}
	return events, nil
}

// RoomsWithEventsInRange returns the rooms that have a timeline event with
// after < stream_pos <= upto and that the user is joined to or whose
// membership changed after after, for an incremental sync the in-memory
// ring no longer covers (rooms the user left or was invited to before the
// window have nothing to show). It is one query: an index probe per room of
// the user, not a scan of the window.
func (r reader) RoomsWithEventsInRange(ctx context.Context, userID id.UserID, after, upto int64) ([]id.RoomID, error) {
	var out []id.RoomID
	err := r.scanRows(ctx, `SELECT m.room_id FROM memberships m
		WHERE m.user_id = $1 AND (m.membership = 'join' OR m.stream_pos > $2) AND EXISTS (
			SELECT 1 FROM events e WHERE e.room_id = m.room_id AND e.stream_pos > $2 AND e.stream_pos <= $3)
		ORDER BY m.room_id`, []any{string(userID), after, upto}, func(scan func(...any) error) error {
		var roomID id.RoomID
		if err := scan(&roomID); err != nil {
			return err
		}
		out = append(out, roomID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load rooms of %s with events in (%d, %d]: %w", userID, after, upto, err)
	}
	return out, nil
}

// memberEventsInRangeQuery reads a user's member events in a room and a
// range of the stream, with the partial index events_room_members.
const memberEventsInRangeQuery = `SELECT ` + eventColumns + ` FROM events
	WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2 AND stream_pos > $3 AND stream_pos <= $4
	ORDER BY stream_pos ASC`

// MemberEventsInRange returns the m.room.member events about userID in a
// room with after < stream_pos <= upto, oldest first: the user's own
// membership changes in a sync window, however many other events the
// window holds.
func (r reader) MemberEventsInRange(ctx context.Context, roomID id.RoomID, userID id.UserID, after, upto int64) ([]Event, error) {
	events, err := r.queryEvents(ctx, memberEventsInRangeQuery, string(roomID), string(userID), after, upto)
	if err != nil {
		return nil, fmt.Errorf("load member events of %s in %s in (%d, %d]: %w", userID, roomID, after, upto, err)
	}
	return events, nil
}
