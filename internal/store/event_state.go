package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"

	"github.com/hafenchat/hafen/internal/core/id"
)

// event_state maps each event with known state to the state group holding
// the room state before it. The state after an event is that group plus
// the event itself if it is a (non-rejected) state event; callers that need
// it as a group store it with StoreStateGroup.
const eventStateSchema = `
CREATE TABLE event_state (
	event_nid          BIGINT PRIMARY KEY REFERENCES events (event_nid),
	state_group_before BIGINT NOT NULL REFERENCES state_groups (group_id)
)`

// eventStateReplacesSchema adds, for a state event, the event at its key
// in the state before it (the one it replaces, whose content clients see
// as unsigned.prev_content): its NID, 0 when the key was empty, NULL when
// not recorded (events stored before this column existed, or whose state
// before was resolved from a fork). Reads then need no state group walk
// per event.
const eventStateReplacesSchema = `ALTER TABLE event_state ADD COLUMN replaces_nid BIGINT`

// eventStateRowid rebuilds event_state on SQLite with event_nid as an
// INTEGER PRIMARY KEY, the table's rowid: "BIGINT PRIMARY KEY" made SQLite
// keep a rowid b-tree and a separate index of event_nid, two b-trees
// written for every event instead of one. PostgreSQL keeps its table.
func eventStateRowid(d dialect) []string {
	if d.name() != "sqlite" {
		return nil
	}
	return rebuildTable("event_state", `CREATE TABLE event_state_new (
	event_nid          INTEGER PRIMARY KEY REFERENCES events (event_nid),
	state_group_before BIGINT NOT NULL REFERENCES state_groups (group_id),
	replaces_nid       BIGINT
)`, "event_nid, state_group_before, replaces_nid")
}

// ReplacesUnknown, given to SetEventStateReplacing, records that the event
// it replaces is not known.
const ReplacesUnknown int64 = -1

// SetEventState records the state group before an event, replacing any
// earlier record (an outlier whose state became known). What a state event
// replaces is left unknown; see SetEventStateReplacing. The statement may
// be queued (see Tx.execLater).
func (t *Tx) SetEventState(ctx context.Context, nid, groupBefore int64) error {
	return t.SetEventStateReplacing(ctx, nid, groupBefore, ReplacesUnknown)
}

// SetEventStateReplacing records the state group before an event and, for
// a state event, the NID of the event at its key in that state (0 for none,
// ReplacesUnknown if not known). The statement may be queued (see
// Tx.execLater).
func (t *Tx) SetEventStateReplacing(ctx context.Context, nid, groupBefore, replaces int64) error {
	var rep sql.NullInt64
	if replaces >= 0 {
		rep = sql.NullInt64{Int64: replaces, Valid: true}
	}
	return t.execLater(ctx, fmt.Sprintf("set state of event %d", nid), `
		INSERT INTO event_state (event_nid, state_group_before, replaces_nid) VALUES ($1, $2, $3)
		ON CONFLICT (event_nid) DO UPDATE SET state_group_before = excluded.state_group_before,
			replaces_nid = excluded.replaces_nid`,
		nid, groupBefore, rep)
}

// SetEventStateOf is SetEventStateReplacing for an event named by its ID,
// for events whose NID the write function does not know yet
// (InsertEventsLater). The statement may be queued (see Tx.execLater).
func (t *Tx) SetEventStateOf(ctx context.Context, eventID id.EventID, groupBefore, replaces int64) error {
	var rep sql.NullInt64
	if replaces >= 0 {
		rep = sql.NullInt64{Int64: replaces, Valid: true}
	}
	return t.execLater(ctx, fmt.Sprintf("set state of event %s", eventID), `
		INSERT INTO event_state (event_nid, state_group_before, replaces_nid)
		SELECT event_nid, $1, $2 FROM events WHERE event_id = $3
		ON CONFLICT (event_nid) DO UPDATE SET state_group_before = excluded.state_group_before,
			replaces_nid = excluded.replaces_nid`,
		groupBefore, rep, string(eventID))
}

// StateGroupBeforeEvent returns the state group before an event, or an
// error wrapping ErrNotFound if its state is not known.
func (r reader) StateGroupBeforeEvent(ctx context.Context, nid int64) (int64, error) {
	var g int64
	err := r.q.QueryRowContext(ctx, `SELECT state_group_before FROM event_state WHERE event_nid = $1`, nid).Scan(&g)
	if err != nil {
		return 0, fmt.Errorf("load state group before event %d: %w", nid, notFound(err))
	}
	return g, nil
}

// StateGroupsBeforeEvents maps the events among nids whose state is known
// to the state group before each.
func (r reader) StateGroupsBeforeEvents(ctx context.Context, nids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(nids))
	err := queryList(ctx, r, `SELECT event_nid, state_group_before FROM event_state WHERE event_nid `+anyList(1), nil, nids,
		func(scan func(...any) error) error {
			var nid, g int64
			if err := scan(&nid, &g); err != nil {
				return err
			}
			out[nid] = g
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load state groups before %d events: %w", len(nids), err)
	}
	return out, nil
}

// StateReplaces maps the state events among nids whose replaced event is
// recorded (see SetEventStateReplacing) to it: a NID, or 0 if the event
// replaced nothing. Events without a record are left out.
func (r reader) StateReplaces(ctx context.Context, nids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(nids))
	err := queryList(ctx, r, `SELECT event_nid, replaces_nid FROM event_state
		WHERE replaces_nid IS NOT NULL AND event_nid `+anyList(1), nil, nids,
		func(scan func(...any) error) error {
			var nid, rep int64
			if err := scan(&nid, &rep); err != nil {
				return err
			}
			out[nid] = rep
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load replaced state of %d events: %w", len(nids), err)
	}
	return out, nil
}

// ReplacedStateEvents returns, for the state events among events (outliers
// left out), the event each replaced (the one at its key in the state
// before it), by the replacing event's NID; events that replaced nothing
// are left out. known holds what the caller already read of it (replacing
// NID → replaced NID, 0 for nothing, as Headers.Replaces gives); it may be
// nil. What the event path recorded at persist time is read in one query;
// events stored without that record are looked up in the state before
// them.
func (r reader) ReplacedStateEvents(ctx context.Context, events []Event, known map[int64]int64) (map[int64]Event, error) {
	// recorded is a copy: known belongs to the caller.
	recorded := make(map[int64]int64, len(events))
	var unknown []int64
	for _, e := range events {
		if e.StateKey == nil || e.Outlier {
			continue
		}
		if rep, ok := known[e.NID]; ok {
			recorded[e.NID] = rep
		} else {
			unknown = append(unknown, e.NID)
		}
	}
	if len(unknown) > 0 {
		got, err := r.StateReplaces(ctx, unknown)
		if err != nil {
			return nil, err
		}
		maps.Copy(recorded, got)
	}
	var unrecorded []Event
	for _, e := range events {
		if _, ok := recorded[e.NID]; !ok && e.StateKey != nil && !e.Outlier {
			unrecorded = append(unrecorded, e)
		}
	}
	if len(unrecorded) > 0 {
		inState, err := r.replacedInState(ctx, unrecorded)
		if err != nil {
			return nil, err
		}
		maps.Copy(recorded, inState)
	}
	byPrev := map[int64][]int64{}
	var prevNIDs []int64
	for _, e := range events {
		if e.StateKey == nil || e.Outlier {
			continue
		}
		p := recorded[e.NID]
		if p == 0 {
			continue
		}
		if _, dup := byPrev[p]; !dup {
			prevNIDs = append(prevNIDs, p)
		}
		byPrev[p] = append(byPrev[p], e.NID)
	}
	out := map[int64]Event{}
	if len(prevNIDs) == 0 {
		return out, nil
	}
	prev, err := r.EventsByNID(ctx, prevNIDs)
	if err != nil {
		return nil, fmt.Errorf("load replaced state events: %w", err)
	}
	for _, p := range prev {
		for _, nid := range byPrev[p.NID] {
			out[nid] = p
		}
	}
	return out, nil
}

// replacedInState returns, for events stored without a record of what
// they replaced, the NID of the event at each one's key in the state before
// it (0 if there is none or that state is not known): one query for the
// groups before them, then one per distinct group.
func (r reader) replacedInState(ctx context.Context, events []Event) (map[int64]int64, error) {
	nids := make([]int64, len(events))
	for i, e := range events {
		nids[i] = e.NID
	}
	groups, err := r.StateGroupsBeforeEvents(ctx, nids)
	if err != nil {
		return nil, err
	}
	keysOf := map[int64][]StateKey{}
	for _, e := range events {
		if g, ok := groups[e.NID]; ok {
			keysOf[g] = append(keysOf[g], StateKey{Type: e.Type, StateKey: *e.StateKey})
		}
	}
	atGroup := make(map[int64]map[StateKey]int64, len(keysOf))
	for g, keys := range keysOf {
		if atGroup[g], err = r.StateKeysAtGroup(ctx, g, keys); err != nil {
			return nil, err
		}
	}
	out := make(map[int64]int64, len(events))
	for _, e := range events {
		g, ok := groups[e.NID]
		if !ok {
			out[e.NID] = 0
			continue
		}
		out[e.NID] = atGroup[g][StateKey{Type: e.Type, StateKey: *e.StateKey}]
	}
	return out, nil
}
