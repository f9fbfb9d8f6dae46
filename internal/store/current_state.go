package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// current_state is each room's state after its forward extremities, as the
// event path last resolved it: the state clients see in /state and sync.
const currentStateSchema = `
CREATE TABLE current_state (
	room_id   TEXT NOT NULL,
	type      TEXT NOT NULL,
	state_key TEXT NOT NULL,
	event_nid BIGINT NOT NULL REFERENCES events (event_nid),
	PRIMARY KEY (room_id, type, state_key)
)`

// UpdateCurrentState applies changes to a room's current state: each key is
// set to its event NID, or removed if the NID is 0. The statements may be
// queued (see Tx.execLater).
func (t *Tx) UpdateCurrentState(ctx context.Context, roomID id.RoomID, changes map[StateKey]int64) error {
	upserts := make([]any, 0, 4*len(changes))
	for k, nid := range changes {
		if nid == 0 {
			if err := t.execLater(ctx, fmt.Sprintf("remove %s/%s from current state of %s", k.Type, k.StateKey, roomID),
				`DELETE FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`,
				string(roomID), k.Type, k.StateKey); err != nil {
				return err
			}
			continue
		}
		upserts = append(upserts, string(roomID), k.Type, k.StateKey, nid)
	}
	err := t.insertRows(ctx, `INSERT INTO current_state (room_id, type, state_key, event_nid)`,
		` ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_nid = excluded.event_nid`, 4, upserts)
	if err != nil {
		return fmt.Errorf("update current state of %s: %w", roomID, err)
	}
	return nil
}

// CurrentState returns a room's current state as event NIDs by key.
func (r reader) CurrentState(ctx context.Context, roomID id.RoomID) (map[StateKey]int64, error) {
	state := make(map[StateKey]int64)
	err := r.scanRows(ctx, `SELECT type, state_key, event_nid FROM current_state WHERE room_id = $1`,
		[]any{string(roomID)},
		func(scan func(...any) error) error {
			var k StateKey
			var nid int64
			if err := scan(&k.Type, &k.StateKey, &nid); err != nil {
				return err
			}
			state[k] = nid
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load current state of %s: %w", roomID, err)
	}
	return state, nil
}

// CurrentStateEvent returns the event at one key of a room's current
// state, or an error wrapping ErrNotFound.
func (r reader) CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (Event, error) {
	e, err := scanEvent(r.q.QueryRowContext(ctx, `
		SELECT `+prefixedEventColumns+`
		FROM current_state c JOIN events ev ON ev.event_nid = c.event_nid
		WHERE c.room_id = $1 AND c.type = $2 AND c.state_key = $3`,
		string(roomID), typ, stateKey).Scan)
	if err != nil {
		return Event{}, fmt.Errorf("load current %s/%s of %s: %w", typ, stateKey, roomID, notFound(err))
	}
	return e, nil
}

// CurrentStateEvents returns the events of a room's current state, ordered
// by type and state key.
func (r reader) CurrentStateEvents(ctx context.Context, roomID id.RoomID) ([]Event, error) {
	events, err := r.queryEvents(ctx, `
		SELECT `+prefixedEventColumns+`
		FROM current_state c JOIN events ev ON ev.event_nid = c.event_nid
		WHERE c.room_id = $1
		ORDER BY c.type, c.state_key`, string(roomID))
	if err != nil {
		return nil, fmt.Errorf("load current state events of %s: %w", roomID, err)
	}
	return events, nil
}
