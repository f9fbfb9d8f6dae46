package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// room_extremities holds each room's forward extremities: the events that
// no other event of the room references yet, which become the prev_events
// of the next event.
const roomExtremitiesSchema = `
CREATE TABLE room_extremities (
	room_id  TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (room_id, event_id)
)`

// roomExtremitiesWithoutRowid rebuilds room_extremities on SQLite as a
// table that is its primary key (WITHOUT ROWID): every persist replaces
// the room's rows, which then touches one b-tree instead of two.
// PostgreSQL keeps its table.
func roomExtremitiesWithoutRowid(d dialect) []string {
	if d.name() != "sqlite" {
		return nil
	}
	return rebuildTable("room_extremities", `CREATE TABLE room_extremities_new (
	room_id  TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (room_id, event_id)
) WITHOUT ROWID`, "room_id, event_id")
}

// SetExtremities replaces a room's forward extremities. The statements may
// be queued (see Tx.execLater).
func (t *Tx) SetExtremities(ctx context.Context, roomID id.RoomID, eventIDs []id.EventID) error {
	if err := t.execLater(ctx, fmt.Sprintf("clear extremities of %s", roomID),
		`DELETE FROM room_extremities WHERE room_id = $1`, string(roomID)); err != nil {
		return err
	}
	if len(eventIDs) == 0 {
		return nil
	}
	seen := make(map[id.EventID]bool, len(eventIDs))
	args := make([]any, 0, 2*len(eventIDs))
	for _, e := range eventIDs {
		if seen[e] {
			continue
		}
		seen[e] = true
		args = append(args, string(roomID), string(e))
	}
	if err := t.insertRows(ctx, `INSERT INTO room_extremities (room_id, event_id)`, "", 2, args); err != nil {
		return fmt.Errorf("set extremities of %s: %w", roomID, err)
	}
	return nil
}

// Extremities returns a room's forward extremities, ordered by event ID.
func (r reader) Extremities(ctx context.Context, roomID id.RoomID) ([]id.EventID, error) {
	var out []id.EventID
	err := r.scanRows(ctx,
		`SELECT event_id FROM room_extremities WHERE room_id = $1 ORDER BY event_id`,
		[]any{string(roomID)},
		func(scan func(...any) error) error {
			var e id.EventID
			if err := scan(&e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load extremities of %s: %w", roomID, err)
	}
	return out, nil
}
