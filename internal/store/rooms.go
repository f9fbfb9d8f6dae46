package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

const roomsSchema = `
CREATE TABLE rooms (
	room_id      TEXT PRIMARY KEY,
	room_version TEXT NOT NULL,
	creator      TEXT NOT NULL,
	created_ts   BIGINT NOT NULL,
	is_public    BOOLEAN NOT NULL DEFAULT FALSE,
	state_group  BIGINT NOT NULL DEFAULT 0
)`

// roomsGenerationSchema adds the room head's generation: a counter that
// every persist of the room's events advances by compare-and-set (see
// Tx.AdvanceRoomHead), so that a writer holding a stale head, in this
// process or another one on the same database, is refused instead of
// forking the room.
const roomsGenerationSchema = `ALTER TABLE rooms ADD COLUMN generation BIGINT NOT NULL DEFAULT 0`

// Room is a room this server takes part in.
type Room struct {
	RoomID      id.RoomID
	RoomVersion string
	Creator     id.UserID
	CreatedTS   int64
	IsPublic    bool // published in the room directory
	// StateGroup is the state group of the room's current state, 0 before
	// the first state event.
	StateGroup int64
	// Generation counts the persists of the room's events; see
	// Tx.AdvanceRoomHead.
	Generation int64
}

// CreateRoom records a room. It returns an error wrapping ErrExists if the
// room is known.
func (t *Tx) CreateRoom(ctx context.Context, r Room) error {
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO rooms (room_id, room_version, creator, created_ts, is_public) VALUES ($1, $2, $3, $4, $5)`,
		string(r.RoomID), r.RoomVersion, string(r.Creator), r.CreatedTS, r.IsPublic)
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("create room %s: %w", r.RoomID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create room %s: %w", r.RoomID, err)
	}
	return nil
}

// Room returns a room, or an error wrapping ErrNotFound.
func (r reader) Room(ctx context.Context, roomID id.RoomID) (Room, error) {
	var rm Room
	err := r.q.QueryRowContext(ctx,
		`SELECT room_id, room_version, creator, created_ts, is_public, state_group, generation FROM rooms WHERE room_id = $1`, string(roomID)).
		Scan(&rm.RoomID, &rm.RoomVersion, &rm.Creator, &rm.CreatedTS, &rm.IsPublic, &rm.StateGroup, &rm.Generation)
	if err != nil {
		return Room{}, fmt.Errorf("load room %s: %w", roomID, notFound(err))
	}
	return rm, nil
}

// SetRoomStateGroup records the state group of a room's current state. It
// returns an error wrapping ErrNotFound for an unknown room. (It is not
// queued: an update of no row succeeds at the server, which would go on
// to commit a transaction the caller is told failed.)
func (t *Tx) SetRoomStateGroup(ctx context.Context, roomID id.RoomID, group int64) error {
	res, err := t.q.ExecContext(ctx, `UPDATE rooms SET state_group = $1 WHERE room_id = $2`, group, string(roomID))
	if err != nil {
		return fmt.Errorf("set state group of %s: %w", roomID, err)
	}
	return expectRow(res, fmt.Sprintf("set state group of %s", roomID))
}

// AdvanceRoomHead is the fence of a room's head: it records the state group
// of the room's current state and advances the room's generation from
// generation to generation+1, but only if the stored generation is still
// the one the caller read. Otherwise (another writer persisted events of
// the room since) it returns an error wrapping ErrStale and changes
// nothing; the caller's other writes of the room must then be rolled back.
// On PostgreSQL the updated row stays locked until the transaction ends, so
// a concurrent writer of the same room waits and then sees the new
// generation.
//
// The statement may be queued (see Tx.execLater), so the error may come
// from the transaction's next statement or the end of the write function.
// A stale generation therefore fails at the server, not by counting rows:
// the update sets the NOT NULL generation to NULL, which the server
// refuses, and a pipeline stops at the refused statement instead of going
// on to COMMIT. The caller has read the room's row, so it exists.
func (t *Tx) AdvanceRoomHead(ctx context.Context, roomID id.RoomID, generation, group int64) error {
	return t.w.execLater(ctx, func(err error) error {
		if t.d.isNotNullViolation(err) {
			return fmt.Errorf("advance head of %s from generation %d: %w", roomID, generation, ErrStale)
		}
		if err != nil {
			return fmt.Errorf("advance head of %s: %w", roomID, err)
		}
		return nil
	}, `UPDATE rooms SET state_group = $1,
			generation = CASE WHEN generation = $2 THEN generation + 1 END
		WHERE room_id = $3`,
		group, generation, string(roomID))
}

// SetRoomPublic publishes a room in, or removes it from, the room
// directory. It returns an error wrapping ErrNotFound for an unknown room.
func (t *Tx) SetRoomPublic(ctx context.Context, roomID id.RoomID, public bool) error {
	res, err := t.q.ExecContext(ctx, `UPDATE rooms SET is_public = $1 WHERE room_id = $2`, public, string(roomID))
	if err != nil {
		return fmt.Errorf("set visibility of %s: %w", roomID, err)
	}
	return expectRow(res, fmt.Sprintf("set visibility of %s", roomID))
}

// PublicRooms returns up to limit rooms of the room directory with IDs
// after since ("" for the first page), ordered by room ID.
func (r reader) PublicRooms(ctx context.Context, since id.RoomID, limit int) ([]id.RoomID, error) {
	var out []id.RoomID
	err := r.scanRows(ctx,
		`SELECT room_id FROM rooms WHERE is_public = TRUE AND room_id > $1 ORDER BY room_id LIMIT $2`,
		[]any{string(since), limit},
		func(scan func(...any) error) error {
			var roomID id.RoomID
			if err := scan(&roomID); err != nil {
				return err
			}
			out = append(out, roomID)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load public rooms: %w", err)
	}
	return out, nil
}
