package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Read-only queries of the Client-Server API's room endpoints (/messages,
// /context, /members, history visibility). They only read tables other
// files own.

// StateKeysAtGroup returns, for each of keys, the event NID it has in the
// state at a group; keys absent from that state are left out. It walks the
// group's delta chain like StateAtGroup but reads only the wanted keys
// (each an index lookup per group of the chain), so a history visibility
// check costs the same in a room with 10 or 100,000 state events.
func (r reader) StateKeysAtGroup(ctx context.Context, groupID int64, keys []StateKey) (map[StateKey]int64, error) {
	out := make(map[StateKey]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	seen := make(map[StateKey]bool, len(keys))
	for start := 0; start < len(keys); start += maxKeysPerLookup {
		chunk := keys[start:min(start+maxKeysPerLookup, len(keys))]
		args := []any{groupID}
		var match strings.Builder
		for i, k := range chunk {
			if i > 0 {
				match.WriteString(" OR ")
			}
			fmt.Fprintf(&match, "(e.type = $%d AND e.state_key = $%d)", len(args)+1, len(args)+2)
			args = append(args, k.Type, k.StateKey)
		}
		err := r.scanRows(ctx, `
			WITH RECURSIVE chain (group_id, prev_group, hop) AS (
				SELECT group_id, prev_group, 0 FROM state_groups WHERE group_id = $1
				UNION ALL
				SELECT g.group_id, g.prev_group, c.hop + 1
				FROM state_groups g JOIN chain c ON g.group_id = c.prev_group
			)
			SELECT c.hop, e.type, e.state_key, e.event_nid
			FROM chain c JOIN state_group_entries e ON e.group_id = c.group_id
			WHERE `+match.String()+`
			ORDER BY c.hop`,
			args,
			func(scan func(...any) error) error {
				var hop int
				var k StateKey
				var nid sql.NullInt64
				if err := scan(&hop, &k.Type, &k.StateKey, &nid); err != nil {
					return err
				}
				if seen[k] {
					return nil
				}
				seen[k] = true
				if nid.Valid {
					out[k] = nid.Int64
				}
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("load %d state keys at group %d: %w", len(keys), groupID, err)
		}
	}
	return out, nil
}

// maxKeysPerLookup bounds the keys one StateKeysAtGroup statement asks for
// (two parameters each, within SQLite's statement size sweet spot).
const maxKeysPerLookup = 40

// CurrentStateEventsOfType returns the events of a room's current state
// with the given type, ordered by state key.
func (r reader) CurrentStateEventsOfType(ctx context.Context, roomID id.RoomID, typ string) ([]Event, error) {
	events, err := r.queryEvents(ctx, `
		SELECT `+prefixedEventColumns+`
		FROM current_state c JOIN events ev ON ev.event_nid = c.event_nid
		WHERE c.room_id = $1 AND c.type = $2
		ORDER BY c.state_key`, string(roomID), typ)
	if err != nil {
		return nil, fmt.Errorf("load current %s events of %s: %w", typ, roomID, err)
	}
	return events, nil
}

// LastRoomEventAt returns the room's timeline event with the highest stream
// position not above pos, or an error wrapping ErrNotFound if the room has
// none there.
func (r reader) LastRoomEventAt(ctx context.Context, roomID id.RoomID, pos int64) (Event, error) {
	e, err := scanEvent(r.q.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_id = $1 AND stream_pos IS NOT NULL AND stream_pos <= $2
		ORDER BY stream_pos DESC LIMIT 1`, string(roomID), pos).Scan)
	if err != nil {
		return Event{}, fmt.Errorf("load last event of %s at %d: %w", roomID, pos, notFound(err))
	}
	return e, nil
}
