package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Event headers: stored events without their JSON, for readers that already
// hold most of the events parsed (the room head's current state) and load
// the JSON of the others only. With each header comes what the event
// replaced, when recorded (see SetEventStateReplacing).

// headerColumns are prefixedEventColumns with a NULL in place of the JSON,
// followed by the recorded replaced event (event_state "s"); keep them in
// step with eventColumns (scanEvent reads them).
const headerColumns = `ev.event_nid, ev.event_id, ev.room_id, ev.type, ev.state_key, ev.sender, ev.depth,
	ev.origin_server_ts, ev.stream_pos, NULL, ev.rejected, ev.outlier, ev.redacted_because,
	ev.txn_device_id, ev.txn_id, ev.soft_failed, ev.gap_below, s.replaces_nid`

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

// StateHeadersAtGroup returns the headers of the events in the state at a
// group, of type typ ("" for all), in one query: the group's delta chain
// is walked as StateAtGroup walks it (the newest entry of a key wins, a
// removal hides the key), and the events are joined in the database
// rather than looked up by a list of NIDs. The few entries that newer
// groups of the chain supersede are dropped here, which costs less than
// sorting every entry by key in the database. The CROSS JOIN makes SQLite
// walk the chain first and look each group's entries up by its key (it
// could otherwise scan every group's entries for the type); PostgreSQL
// plans it as any join.
func (r reader) StateHeadersAtGroup(ctx context.Context, groupID int64, typ string) (Headers, error) {
	typeFilter := ""
	args := []any{groupID}
	if typ != "" {
		typeFilter = `AND e.type = $2`
		args = append(args, typ)
	}
	type entry struct {
		hop      int
		event    Event
		replaces sql.NullInt64
		removed  bool
	}
	newest := map[StateKey]entry{}
	err := r.scanRows(ctx, `
		WITH RECURSIVE chain (group_id, prev_group, hop) AS (
			SELECT group_id, prev_group, 0 FROM state_groups WHERE group_id = $1
			UNION ALL
			SELECT g.group_id, g.prev_group, c.hop + 1
			FROM state_groups g JOIN chain c ON g.group_id = c.prev_group
		)
		SELECT c.hop, e.type, e.state_key, e.event_nid IS NULL, `+headerColumns+`
		FROM chain c CROSS JOIN state_group_entries e
		LEFT JOIN events ev ON ev.event_nid = e.event_nid
		LEFT JOIN event_state s ON s.event_nid = e.event_nid
		WHERE e.group_id = c.group_id `+typeFilter,
		args,
		func(scan func(...any) error) error {
			var en entry
			var k StateKey
			var (
				nid                                     sql.NullInt64
				eventID, roomID, evType, sender         sql.NullString
				stateKey, redactedBecause, txnDev, txn  sql.NullString
				depth, ts, pos                          sql.NullInt64
				json                                    []byte
				rejected, outlier, softFailed, gapBelow sql.NullBool
			)
			if err := scan(&en.hop, &k.Type, &k.StateKey, &en.removed,
				&nid, &eventID, &roomID, &evType, &stateKey, &sender, &depth, &ts, &pos, &json,
				&rejected, &outlier, &redactedBecause, &txnDev, &txn, &softFailed, &gapBelow, &en.replaces); err != nil {
				return err
			}
			if cur, ok := newest[k]; ok && cur.hop <= en.hop {
				return nil
			}
			if !en.removed {
				e := &en.event
				e.NID, e.EventID, e.RoomID = nid.Int64, id.EventID(eventID.String), id.RoomID(roomID.String)
				e.Type, e.Sender, e.Depth, e.OriginServerTS = evType.String, id.UserID(sender.String), depth.Int64, ts.Int64
				if stateKey.Valid {
					e.StateKey = &stateKey.String
				}
				e.StreamPos, e.Rejected, e.Outlier, e.SoftFailed = pos.Int64, rejected.Bool, outlier.Bool, softFailed.Bool
				e.GapBelow = gapBelow.Bool
				e.RedactedBecause = id.EventID(redactedBecause.String)
				e.TxnDeviceID, e.TxnID = id.DeviceID(txnDev.String), txn.String
			}
			newest[k] = en
			return nil
		})
	if err != nil {
		return Headers{}, fmt.Errorf("load state at group %d: %w", groupID, err)
	}
	h := Headers{Events: make([]Event, 0, len(newest)), Replaces: map[int64]int64{}}
	for _, en := range newest {
		if en.removed || en.event.NID == 0 {
			continue
		}
		h.Events = append(h.Events, en.event)
		if en.replaces.Valid {
			h.Replaces[en.event.NID] = en.replaces.Int64
		}
	}
	slices.SortFunc(h.Events, func(a, b Event) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(*a.StateKey, *b.StateKey))
	})
	return h, nil
}
