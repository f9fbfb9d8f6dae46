package store

import (
	"context"
	"fmt"
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

// SetEventState records the state group before an event, replacing any
// earlier record (an outlier whose state became known). The statement may
// be queued (see Tx.execLater).
func (t *Tx) SetEventState(ctx context.Context, nid, groupBefore int64) error {
	return t.execLater(ctx, fmt.Sprintf("set state of event %d", nid), `
		INSERT INTO event_state (event_nid, state_group_before) VALUES ($1, $2)
		ON CONFLICT (event_nid) DO UPDATE SET state_group_before = excluded.state_group_before`,
		nid, groupBefore)
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
