package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// State is stored as state groups. A group is either a snapshot (no
// prev_group, delta_depth 0), whose entries are the whole state, or a delta
// against prev_group (delta_depth = prev's + 1), whose entries are only the
// keys that changed; an entry with a NULL event_nid removes its key. The
// state at a group is found by walking the chain back to its snapshot.
//
// Deltas keep a state event's cost proportional to what it changes: a
// room with 100,000 state events does not copy them for each event. The
// chain length is bounded by DB.maxStateDelta, so a lookup reads at most
// that many deltas plus one snapshot: when a new group would exceed the
// bound, the full state is written as a new snapshot instead. A snapshot
// thus costs one full copy per maxStateDelta state changes.
const stateGroupsSchema = `
CREATE TABLE state_groups (
	group_id    {{bigserial_pk}},
	room_id     TEXT NOT NULL,
	prev_group  BIGINT REFERENCES state_groups (group_id),
	delta_depth BIGINT NOT NULL
);
CREATE TABLE state_group_entries (
	group_id  BIGINT NOT NULL REFERENCES state_groups (group_id),
	type      TEXT NOT NULL,
	state_key TEXT NOT NULL,
	event_nid BIGINT,
	PRIMARY KEY (group_id, type, state_key)
)`

// defaultMaxStateDelta is the longest delta chain behind a snapshot.
const defaultMaxStateDelta = 100

// StateKey is the key of a piece of room state.
type StateKey struct {
	Type     string
	StateKey string
}

// StoreStateGroup stores the state of roomID that results from applying
// delta to the state at prevGroup, and returns the new group. delta maps
// keys to event NIDs; a NID of 0 removes the key. prevGroup 0 means "no
// previous state": delta is then the whole state.
//
// If delta is empty, the state is that of prevGroup and prevGroup is
// returned; no group is written.
func (t *Tx) StoreStateGroup(ctx context.Context, roomID id.RoomID, prevGroup int64, delta map[StateKey]int64) (int64, error) {
	if prevGroup == 0 {
		return t.insertStateGroup(ctx, roomID, 0, 0, delta)
	}
	var prevRoom id.RoomID
	var prevDepth int
	err := t.q.QueryRowContext(ctx,
		`SELECT room_id, delta_depth FROM state_groups WHERE group_id = $1`, prevGroup).Scan(&prevRoom, &prevDepth)
	if err != nil {
		return 0, fmt.Errorf("store state of %s: load previous group %d: %w", roomID, prevGroup, notFound(err))
	}
	if prevRoom != roomID {
		return 0, fmt.Errorf("store state of %s: previous group %d belongs to %s", roomID, prevGroup, prevRoom)
	}
	if len(delta) == 0 {
		return prevGroup, nil
	}
	if prevDepth+1 <= t.maxStateDelta {
		return t.insertStateGroup(ctx, roomID, prevGroup, prevDepth+1, delta)
	}
	state, err := t.StateAtGroup(ctx, prevGroup)
	if err != nil {
		return 0, fmt.Errorf("store state of %s: %w", roomID, err)
	}
	for k, nid := range delta {
		if nid == 0 {
			delete(state, k)
		} else {
			state[k] = nid
		}
	}
	return t.insertStateGroup(ctx, roomID, 0, 0, state)
}

// insertStateGroup writes one group and its entries. For a snapshot
// (prevGroup 0) removals are dropped: there is nothing to remove from.
func (t *Tx) insertStateGroup(ctx context.Context, roomID id.RoomID, prevGroup int64, depth int, entries map[StateKey]int64) (int64, error) {
	var groupID int64
	err := t.q.QueryRowContext(ctx,
		`INSERT INTO state_groups (room_id, prev_group, delta_depth) VALUES ($1, $2, $3) RETURNING group_id`,
		string(roomID), nullInt64(prevGroup), depth).Scan(&groupID)
	if err != nil {
		return 0, fmt.Errorf("store state group of %s: %w", roomID, err)
	}
	args := make([]any, 0, 4*len(entries))
	for k, nid := range entries {
		if nid == 0 && prevGroup == 0 {
			continue
		}
		args = append(args, groupID, k.Type, k.StateKey, nullInt64(nid))
	}
	if err := t.insertRows(ctx, `INSERT INTO state_group_entries (group_id, type, state_key, event_nid)`, "", 4, args); err != nil {
		return 0, fmt.Errorf("store state group %d of %s: %w", groupID, roomID, err)
	}
	return groupID, nil
}

// StateAtGroup returns the state at a group, as event NIDs by key, or an
// error wrapping ErrNotFound for an unknown group. It reads the group's
// delta chain in one query, newest group first, and keeps the first entry
// it sees for each key.
func (r reader) StateAtGroup(ctx context.Context, groupID int64) (map[StateKey]int64, error) {
	state := make(map[StateKey]int64)
	seen := make(map[StateKey]bool)
	groups := 0
	err := r.scanRows(ctx, `
		WITH RECURSIVE chain (group_id, prev_group, hop) AS (
			SELECT group_id, prev_group, 0 FROM state_groups WHERE group_id = $1
			UNION ALL
			SELECT g.group_id, g.prev_group, c.hop + 1
			FROM state_groups g JOIN chain c ON g.group_id = c.prev_group
		)
		SELECT c.hop, e.type, e.state_key, e.event_nid
		FROM chain c LEFT JOIN state_group_entries e ON e.group_id = c.group_id
		ORDER BY c.hop`,
		[]any{groupID},
		func(scan func(...any) error) error {
			var hop int
			var typ, stateKey sql.NullString
			var nid sql.NullInt64
			if err := scan(&hop, &typ, &stateKey, &nid); err != nil {
				return err
			}
			groups++
			if !typ.Valid { // a group without entries
				return nil
			}
			k := StateKey{Type: typ.String, StateKey: stateKey.String}
			if seen[k] {
				return nil
			}
			seen[k] = true
			if nid.Valid {
				state[k] = nid.Int64
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load state at group %d: %w", groupID, err)
	}
	if groups == 0 {
		return nil, fmt.Errorf("load state at group %d: %w", groupID, ErrNotFound)
	}
	return state, nil
}
