package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Event headers: stored events without their JSON, for readers that already
// hold most of the events parsed (the room head's current state) and load
// the JSON of the others only. With each header comes what the event
// replaced, when recorded (see SetEventStateReplacing).

// headerColumns are eventColumns with a NULL in place of the JSON, aliased
// "ev", followed by the recorded replaced event (event_state "s").
const headerColumns = `ev.event_nid, ev.event_id, ev.room_id, ev.type, ev.state_key, ev.sender, ev.depth,
	ev.origin_server_ts, ev.stream_pos, NULL, ev.rejected, ev.outlier, ev.redacted_because,
	ev.txn_device_id, ev.txn_id, s.replaces_nid`

// Headers are event headers (Events whose JSON is nil) and the events they
// replaced where that is recorded, by NID (0: replaced nothing).
type Headers struct {
	Events   []Event
	Replaces map[int64]int64
}

func (h *Headers) scan(scan func(...any) error) error {
	var replaces sql.NullInt64
	e, err := scanEvent(func(dest ...any) error { return scan(append(dest, &replaces)...) })
	if err != nil {
		return err
	}
	h.Events = append(h.Events, e)
	if replaces.Valid {
		h.Replaces[e.NID] = replaces.Int64
	}
	return nil
}

// CurrentStateHeaders returns the headers of a room's current state events,
// of type typ ("" for all), ordered by type and state key.
func (r reader) CurrentStateHeaders(ctx context.Context, roomID id.RoomID, typ string) (Headers, error) {
	h := Headers{Replaces: map[int64]int64{}}
	query := `SELECT ` + headerColumns + `
		FROM current_state c JOIN events ev ON ev.event_nid = c.event_nid
		LEFT JOIN event_state s ON s.event_nid = c.event_nid
		WHERE c.room_id = $1`
	args := []any{string(roomID)}
	if typ != "" {
		query += ` AND c.type = $2`
		args = append(args, typ)
	}
	query += ` ORDER BY c.type, c.state_key`
	if err := r.scanRows(ctx, query, args, h.scan); err != nil {
		return Headers{}, fmt.Errorf("load current state of %s: %w", roomID, err)
	}
	return h, nil
}

// EventHeadersByNID returns the headers of the events with the given NIDs,
// in the order of nids. NIDs not stored are left out.
func (r reader) EventHeadersByNID(ctx context.Context, nids []int64) (Headers, error) {
	all := Headers{Replaces: map[int64]int64{}}
	err := queryList(ctx, r, `SELECT `+headerColumns+`
		FROM events ev LEFT JOIN event_state s ON s.event_nid = ev.event_nid
		WHERE ev.event_nid `+anyList(1), nil, nids, all.scan)
	if err != nil {
		return Headers{}, fmt.Errorf("load %d event headers: %w", len(nids), err)
	}
	byNID := make(map[int64]Event, len(all.Events))
	for _, e := range all.Events {
		byNID[e.NID] = e
	}
	out := Headers{Events: make([]Event, 0, len(byNID)), Replaces: all.Replaces}
	for _, nid := range nids {
		if e, ok := byNID[nid]; ok {
			out.Events = append(out.Events, e)
			delete(byNID, nid)
		}
	}
	return out, nil
}
