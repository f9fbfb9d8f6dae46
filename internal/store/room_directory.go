package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// The room directory reads the rooms table's is_public flag and, for the
// summaries it lists, a few current state events and the joined member
// counts of many rooms at once.

// PublicRoomIDs returns the rooms published in the room directory,
// ordered by room ID.
func (r reader) PublicRoomIDs(ctx context.Context) ([]id.RoomID, error) {
	var out []id.RoomID
	err := r.scanRows(ctx, `SELECT room_id FROM rooms WHERE is_public ORDER BY room_id`, nil,
		func(scan func(...any) error) error {
			var roomID id.RoomID
			if err := scan(&roomID); err != nil {
				return err
			}
			out = append(out, roomID)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load published rooms: %w", err)
	}
	return out, nil
}

// PublishedRoom is a room published in the room directory with its
// head's generation, which advances with every event stored in the room.
type PublishedRoom struct {
	RoomID     id.RoomID
	Generation int64
}

// PublishedRooms returns the rooms published in the room directory with
// their generations, ordered by room ID: a cache of their summaries
// knows from it which ones changed.
func (r reader) PublishedRooms(ctx context.Context) ([]PublishedRoom, error) {
	var out []PublishedRoom
	err := r.scanRows(ctx, `SELECT room_id, generation FROM rooms WHERE is_public ORDER BY room_id`, nil,
		func(scan func(...any) error) error {
			var p PublishedRoom
			if err := scan(&p.RoomID, &p.Generation); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load published rooms: %w", err)
	}
	return out, nil
}

// summaryStateTypes are the state types (with an empty state key) a room
// summary is made of: the fields of the spec's PublishedRoomsChunk and
// SpaceHierarchyRoomsChunk.
const summaryStateTypes = `'m.room.create', 'm.room.name', 'm.room.topic', 'm.room.avatar',
	'm.room.canonical_alias', 'm.room.join_rules', 'm.room.history_visibility', 'm.room.guest_access',
	'm.room.encryption'`

// RoomSummaryState returns, per room, the current state events with an
// empty state key of the types a room summary reads (create, name, topic,
// avatar, canonical alias, join rules, history visibility, guest access,
// encryption). Rooms the store does not know are left out.
func (r reader) RoomSummaryState(ctx context.Context, roomIDs []id.RoomID) (map[id.RoomID][]Event, error) {
	out := make(map[id.RoomID][]Event, len(roomIDs))
	err := queryList(ctx, r, `
		SELECT `+prefixedEventColumns+`
		FROM current_state c JOIN events ev ON ev.event_nid = c.event_nid
		WHERE c.state_key = '' AND c.type IN (`+summaryStateTypes+`) AND c.room_id `+anyList(1),
		nil, idStrings(roomIDs),
		func(scan func(...any) error) error {
			e, err := scanEvent(scan)
			if err != nil {
				return err
			}
			out[e.RoomID] = append(out[e.RoomID], e)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load summary state of %d rooms: %w", len(roomIDs), err)
	}
	return out, nil
}

// JoinedMemberCounts returns the number of joined members of each room;
// rooms without any are left out.
func (r reader) JoinedMemberCounts(ctx context.Context, roomIDs []id.RoomID) (map[id.RoomID]int, error) {
	out := make(map[id.RoomID]int, len(roomIDs))
	err := queryList(ctx, r, `
		SELECT room_id, COUNT(*) FROM memberships
		WHERE membership = 'join' AND room_id `+anyList(1)+`
		GROUP BY room_id`,
		nil, idStrings(roomIDs),
		func(scan func(...any) error) error {
			var roomID id.RoomID
			var n int
			if err := scan(&roomID, &n); err != nil {
				return err
			}
			out[roomID] = n
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("count joined members of %d rooms: %w", len(roomIDs), err)
	}
	return out, nil
}
