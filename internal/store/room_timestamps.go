package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// eventsTimestampIndex serves /timestamp_to_event: a room's timeline
// events by origin_server_ts.
const eventsTimestampIndex = `CREATE INDEX events_room_ts ON events (room_id, origin_server_ts)`

// RoomEventsByTimestamp returns up to limit timeline events of a room
// closest to ts in direction dir: Forward those at or after ts, oldest
// first; Backward those at or before ts, newest first; after skipping
// offset of them.
func (r reader) RoomEventsByTimestamp(ctx context.Context, roomID id.RoomID, ts int64, dir Direction, limit, offset int) ([]Event, error) {
	var cond, order string
	switch dir {
	case Forward:
		cond, order = "origin_server_ts >= $2", "ASC"
	case Backward:
		cond, order = "origin_server_ts <= $2", "DESC"
	default:
		return nil, fmt.Errorf("load events of %s by timestamp: invalid direction %d", roomID, dir)
	}
	events, err := r.queryEvents(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_id = $1 AND `+cond+` AND stream_pos IS NOT NULL
		ORDER BY origin_server_ts `+order+`, stream_pos `+order+` LIMIT $3 OFFSET $4`,
		string(roomID), ts, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("load events of %s by timestamp: %w", roomID, err)
	}
	return events, nil
}
