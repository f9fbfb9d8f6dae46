package store

import (
	"context"
	"fmt"
	"math"

	"github.com/hafenchat/hafen/internal/core/id"
)

// A room's timeline has two orders. The stream order (stream_pos) is the
// order in which events reached this server; sync follows it, because a
// client must hear of every event once, whenever it arrived. The
// topological order, by (depth, stream_pos), is the order of the room's
// history; /messages and /context follow it, so that events which arrive
// late with an old depth (backfilled history, events of a server that
// lagged) take their place in history instead of appearing as new. Within
// one depth (forks, or events of several servers) arrival breaks the tie.
//
// The index events_room_topo (room_id, depth, stream_pos) serves the walks
// in index order (no sort) and RoomTopoPosAt from the index alone. It
// replaced events_room_depth, its prefix.
const roomOrderIndex = `
CREATE INDEX events_room_topo ON events (room_id, depth, stream_pos);
DROP INDEX events_room_depth`

// TopoPos is a point in a room's topological order: the point just after
// the event with this depth and stream position. The zero TopoPos lies
// before every event (depths and stream positions start at 1); MaxTopoPos
// after every event.
type TopoPos struct {
	Depth  int64
	Stream int64
}

// MaxTopoPos lies after every event of a room.
var MaxTopoPos = TopoPos{Depth: math.MaxInt64, Stream: math.MaxInt64}

// TopoPosOf returns the point just after a timeline event.
func TopoPosOf(e Event) TopoPos { return TopoPos{Depth: e.Depth, Stream: e.StreamPos} }

// Less reports whether p lies before q.
func (p TopoPos) Less(q TopoPos) bool {
	return p.Depth < q.Depth || p.Depth == q.Depth && p.Stream < q.Stream
}

// Compare returns -1, 0 or +1 as p lies before, at or after q.
func (p TopoPos) Compare(q TopoPos) int {
	switch {
	case p.Less(q):
		return -1
	case q.Less(p):
		return 1
	}
	return 0
}

// Before returns the point just before the event after p: walking
// backwards past the event at p continues from there.
func (p TopoPos) Before() TopoPos { return TopoPos{Depth: p.Depth, Stream: p.Stream - 1} }

// RoomEventsTopo returns up to limit timeline events of a room between two
// points of its topological order. Forward returns the events after from
// and up to to, oldest first; Backward those up to from and after to,
// newest first. Use the zero TopoPos for "back to the start" and
// MaxTopoPos for "up to the newest".
//
// The bounds are written as depth ranges with the stream position as a
// tie-break ("depth >= $2 AND (depth > $2 OR stream_pos > $3)") rather
// than as row values, so both backends walk the index by depth.
func (r reader) RoomEventsTopo(ctx context.Context, roomID id.RoomID, from, to TopoPos, dir Direction, limit int) ([]Event, error) {
	var order string
	switch dir {
	case Forward:
		order = "ASC"
	case Backward:
		from, to = to, from
		order = "DESC"
	default:
		return nil, fmt.Errorf("load events of %s: invalid direction %d", roomID, dir)
	}
	// Here from < (depth, stream_pos) <= to in either direction.
	query := `SELECT ` + eventColumns + ` FROM events
		WHERE room_id = $1 AND stream_pos IS NOT NULL
		AND depth >= $2 AND (depth > $2 OR stream_pos > $3)
		AND depth <= $4 AND (depth < $4 OR stream_pos <= $5)
		ORDER BY depth ` + order + `, stream_pos ` + order + ` LIMIT $6`
	events, err := r.queryEvents(ctx, query, string(roomID), from.Depth, from.Stream, to.Depth, to.Stream, limit)
	if err != nil {
		return nil, fmt.Errorf("load events of %s in topological order: %w", roomID, err)
	}
	return events, nil
}

// RoomTopoPosAt returns the room's topological position at a point of the
// stream: the point just after the topologically last of the room's events
// with a stream position up to pos, or the zero TopoPos if there is none.
// It turns a stream token (sync's prev_batch) into a place in the room's
// history: walking backwards from it returns what the client has not seen
// yet, including history that arrived after pos with an older depth.
//
// If the room's next event after pos lies above a gap (Event.GapBelow),
// the point is at least the one just below that event: sync starts a
// timeline at such an event with pos as its prev_batch, and the client
// paging back from it must reach the gap's history, which lies below the
// event by depth but may lie above every event up to pos.
//
// It reads the index from the room's newest depth down to the first event
// at or before pos, so its cost grows with the events that arrived after
// pos, which for the tokens sync hands out is one timeline; and the room's
// next event after pos by its stream index.
func (r reader) RoomTopoPosAt(ctx context.Context, roomID id.RoomID, pos int64) (TopoPos, error) {
	// One statement, two rows at most: the topologically last event up
	// to pos, and the point just below the room's next event if that lies
	// above a gap. "+stream_pos" keeps SQLite from choosing the (room_id,
	// stream_pos) index and sorting for the first; its walk must follow
	// events_room_topo. The second walks the stream index.
	var p TopoPos
	err := r.scanRows(ctx, `SELECT depth, stream_pos FROM (SELECT depth, stream_pos FROM events
			WHERE room_id = $1 AND +stream_pos <= $2
			ORDER BY depth DESC, stream_pos DESC LIMIT 1) last_event
		UNION ALL
		SELECT depth, stream_pos - 1 FROM (SELECT depth, stream_pos, gap_below FROM events
			WHERE room_id = $1 AND stream_pos > $2
			ORDER BY stream_pos LIMIT 1) next_event WHERE gap_below`,
		[]any{string(roomID), pos},
		func(scan func(...any) error) error {
			var q TopoPos
			if err := scan(&q.Depth, &q.Stream); err != nil {
				return err
			}
			if p.Less(q) {
				p = q
			}
			return nil
		})
	if err != nil {
		return TopoPos{}, fmt.Errorf("load topological position of %s at %d: %w", roomID, pos, err)
	}
	return p, nil
}
