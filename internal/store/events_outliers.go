package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// InsertOutliers stores outliers (EventRecord.Outlier; no stream
// positions) with multi-row inserts, as many rows per statement as the
// backend's parameter budget allows, and returns every event's NID,
// those of events stored already included. An event named twice is
// stored once. It returns an error for a record that is not an outlier.
func (t *Tx) InsertOutliers(ctx context.Context, evs []EventRecord) (map[id.EventID]int64, error) {
	nids := make(map[id.EventID]int64, len(evs))
	uniq := make([]EventRecord, 0, len(evs))
	seen := make(map[id.EventID]bool, len(evs))
	for _, ev := range evs {
		if !ev.Outlier {
			return nil, fmt.Errorf("insert outliers: %s is not an outlier", ev.EventID)
		}
		if !seen[ev.EventID] {
			seen[ev.EventID] = true
			uniq = append(uniq, ev)
		}
	}
	var existing []id.EventID
	per := max(1, t.d.maxParams()/eventInsertCols)
	for start := 0; start < len(uniq); start += per {
		part := uniq[start:min(start+per, len(uniq))]
		query, args, index, err := t.eventRows(part, " ON CONFLICT (event_id) DO NOTHING")
		if err != nil {
			return nil, err
		}
		rows, err := t.q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("insert %d outliers: %w", len(part), err)
		}
		found := make([]bool, len(part))
		out := make([]InsertedEvent, len(part))
		err = scanInserted(rows, index, found, out)
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("insert %d outliers: %w", len(part), err)
		}
		for i, ok := range found {
			if ok {
				nids[part[i].EventID] = out[i].NID
			} else {
				existing = append(existing, part[i].EventID)
			}
		}
	}
	if len(existing) > 0 {
		known, err := t.EventNIDs(ctx, existing)
		if err != nil {
			return nil, err
		}
		for _, eid := range existing {
			nid, ok := known[eid]
			if !ok {
				return nil, fmt.Errorf("insert outlier %s: neither inserted nor stored", eid)
			}
			nids[eid] = nid
		}
	}
	return nids, nil
}

// SetMemberships records users' current memberships (see SetMembership)
// with multi-row statements, which may be queued (see Tx.execLater). Where
// ms names a room and user twice, the later entry wins.
func (t *Tx) SetMemberships(ctx context.Context, ms []Member) error {
	type key struct {
		room id.RoomID
		user id.UserID
	}
	last := make(map[key]int, len(ms))
	for i, m := range ms {
		last[key{m.RoomID, m.UserID}] = i
	}
	args := make([]any, 0, 5*len(last))
	for i, m := range ms {
		if last[key{m.RoomID, m.UserID}] != i {
			continue
		}
		args = append(args, string(m.RoomID), string(m.UserID), m.Membership, m.EventNID, m.StreamPos)
	}
	if len(args) == 0 {
		return nil
	}
	err := t.insertRows(ctx, `INSERT INTO memberships (`+memberColumns+`)`, `
		ON CONFLICT (room_id, user_id) DO UPDATE SET
			membership = excluded.membership, event_nid = excluded.event_nid, stream_pos = excluded.stream_pos`, 5, args)
	if err != nil {
		return fmt.Errorf("set %d memberships: %w", len(args)/5, err)
	}
	return nil
}
