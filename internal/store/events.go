package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// events holds every PDU the server has, as the bytes it was given. The
// columns beside json are copies of the PDU's fields that queries need.
//
// event_nid is a numeric ID used by the state tables instead of the long
// event ID. stream_pos is the event's place in the global stream (see
// streams.go), NULL for outliers and rejected events, which never reach a
// timeline.
//
// prev_events are not split into their own table: sync pages by
// stream_pos, /messages by (depth, stream_pos) (see room_order.go, whose
// index replaced events_room_depth), and backfill walks prev_events by
// loading events (their JSON) by ID and depth, so an edges table would only
// duplicate the JSON.
const eventsSchema = `
CREATE TABLE events (
	event_nid        {{bigserial_pk}},
	event_id         TEXT NOT NULL UNIQUE,
	room_id          TEXT NOT NULL,
	type             TEXT NOT NULL,
	state_key        TEXT,
	sender           TEXT NOT NULL,
	depth            BIGINT NOT NULL,
	origin_server_ts BIGINT NOT NULL,
	stream_pos       BIGINT UNIQUE,
	json             {{bytes}} NOT NULL,
	rejected         BOOLEAN NOT NULL DEFAULT FALSE,
	outlier          BOOLEAN NOT NULL DEFAULT FALSE,
	redacted_because TEXT,
	txn_device_id    TEXT,
	txn_id           TEXT
);
CREATE INDEX events_room_stream ON events (room_id, stream_pos);
CREATE INDEX events_room_depth ON events (room_id, depth);
CREATE INDEX events_room_type ON events (room_id, type)`

// eventsMemberIndex replaces events_room_type, whose one reader was the
// search for a user's member events in a range of the stream
// (MemberEventsInRange). A partial index over member events serves it
// directly, by room, user and position, and a message, which is no member
// event, adds no entry to it: one b-tree fewer for every message stored.
const eventsMemberIndex = `
DROP INDEX events_room_type;
CREATE INDEX events_room_members ON events (room_id, state_key, stream_pos) WHERE type = 'm.room.member'`

// eventsSoftFailedSchema marks soft-failed events: events from other
// servers that pass the auth rules against the state before them but not
// against the room's current state. They are stored and take part in state
// resolution, but get no stream position, so no client sees them.
const eventsSoftFailedSchema = `ALTER TABLE events ADD COLUMN soft_failed BOOLEAN NOT NULL DEFAULT FALSE`

// eventsGapBelowSchema marks the events stored above a gap in their
// room's history (Tx.MarkGapBelow). Events stored above a gap before the
// column existed are found by the holes they left, where those are still
// open.
const eventsGapBelowSchema = `ALTER TABLE events ADD COLUMN gap_below BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE events SET gap_below = TRUE WHERE stream_pos IN
	(SELECT stream_pos FROM room_backward_extremities WHERE stream_pos > 0)`

// EventRecord is an event to store.
type EventRecord struct {
	EventID        id.EventID
	RoomID         id.RoomID
	Type           string
	StateKey       *string // nil for a message event
	Sender         id.UserID
	Depth          int64
	OriginServerTS int64
	JSON           []byte // the PDU as stored; the store does not parse it
	Rejected       bool   // failed authorization; kept, never shown
	Outlier        bool   // stored without the state before it
	// Backfilled marks history fetched from another server: a timeline
	// event whose stream position is negative, allocated downwards, so
	// that it takes its place in the room's history (topological order)
	// but no stream reader (sync, the federation sender) sees it as new.
	Backfilled bool
	// SoftFailed marks an event that failed the auth rules only against
	// the room's current state: kept, never shown to clients.
	SoftFailed bool
	// TxnDeviceID and TxnID are the sending device's transaction ID, for
	// events sent by a local client; empty otherwise.
	TxnDeviceID id.DeviceID
	TxnID       string
}

// IsState reports whether the event is a state event.
func (e EventRecord) IsState() bool { return e.StateKey != nil }

// Event is a stored event.
type Event struct {
	EventRecord
	NID             int64
	StreamPos       int64      // 0 for outliers and rejected events
	RedactedBecause id.EventID // the redaction that applies, if any
	// GapBelow marks an event of another server that was accepted into
	// the timeline with prev events this server could not fetch (see
	// Tx.MarkGapBelow): the room's history has a gap just below it.
	GapBelow bool
	// Erased is set on the copies of events that room.FilterVisible
	// serves redacted, their sender's account having been erased; JSON
	// then holds the redacted event. The store never sets it.
	Erased bool
}

// ShownToClients reports whether clients may be served the event by its
// ID: it is in the room's timeline. Rejected events, soft-failed events
// and outliers are kept for the room's graph and state, but for clients
// they do not exist.
func (e Event) ShownToClients() bool { return !e.Rejected && !e.SoftFailed && !e.Outlier }

// Direction is the order in which RoomEventsRange walks the stream.
type Direction int

const (
	// Forward walks towards newer events.
	Forward Direction = iota + 1
	// Backward walks towards older events.
	Backward
)

const eventColumns = `event_nid, event_id, room_id, type, state_key, sender, depth, origin_server_ts,
	stream_pos, json, rejected, outlier, redacted_because, txn_device_id, txn_id, soft_failed, gap_below`

// prefixedEventColumns are eventColumns of the events table aliased "ev",
// for joins.
const prefixedEventColumns = `ev.event_nid, ev.event_id, ev.room_id, ev.type, ev.state_key, ev.sender, ev.depth,
	ev.origin_server_ts, ev.stream_pos, ev.json, ev.rejected, ev.outlier, ev.redacted_because,
	ev.txn_device_id, ev.txn_id, ev.soft_failed, ev.gap_below`

func scanEvent(scan func(...any) error) (Event, error) {
	var e Event
	var stateKey, redactedBecause, txnDevice, txnID sql.NullString
	var pos sql.NullInt64
	err := scan(&e.NID, &e.EventID, &e.RoomID, &e.Type, &stateKey, &e.Sender, &e.Depth, &e.OriginServerTS,
		&pos, &e.JSON, &e.Rejected, &e.Outlier, &redactedBecause, &txnDevice, &txnID, &e.SoftFailed, &e.GapBelow)
	if err != nil {
		return Event{}, err
	}
	if stateKey.Valid {
		e.StateKey = &stateKey.String
	}
	e.StreamPos = pos.Int64
	e.RedactedBecause = id.EventID(redactedBecause.String)
	e.TxnDeviceID = id.DeviceID(txnDevice.String)
	e.TxnID = txnID.String
	return e, nil
}

// InsertEvent stores an event and returns its NID and, unless it is an
// outlier, rejected or soft-failed, its stream position (0 otherwise). It returns an
// error wrapping ErrExists if the event ID is stored already; the
// transaction stays usable in that case.
func (t *Tx) InsertEvent(ctx context.Context, ev EventRecord) (nid int64, streamPos int64, err error) {
	// The position is allocated by the insert itself: one statement, one
	// round trip.
	posExpr := "NULL"
	if !ev.Outlier && !ev.Rejected && !ev.SoftFailed {
		posExpr = t.d.nextStreamPosExpr()
		if ev.Backfilled {
			posExpr = t.d.backfillPosExpr()
		}
	}
	var stateKey sql.NullString
	if ev.StateKey != nil {
		stateKey = sql.NullString{String: *ev.StateKey, Valid: true}
	}
	var pos sql.NullInt64
	err = t.q.QueryRowContext(ctx, `
		INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
			stream_pos, json, rejected, outlier, txn_device_id, txn_id, soft_failed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, `+posExpr+`, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (event_id) DO NOTHING
		RETURNING event_nid, stream_pos`,
		string(ev.EventID), string(ev.RoomID), ev.Type, stateKey, string(ev.Sender), ev.Depth, ev.OriginServerTS,
		ev.JSON, ev.Rejected, ev.Outlier, nullString(string(ev.TxnDeviceID)), nullString(ev.TxnID), ev.SoftFailed).
		Scan(&nid, &pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("insert event %s: %w", ev.EventID, ErrExists)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("insert event %s: %w", ev.EventID, err)
	}
	return nid, pos.Int64, nil
}

// PromoteOutlier turns a stored outlier into a timeline event once its
// state is known, and returns its new stream position. It returns an
// error wrapping ErrNotFound unless the event is a non-rejected outlier.
func (t *Tx) PromoteOutlier(ctx context.Context, eventID id.EventID) (int64, error) {
	pos, err := t.d.nextStreamPos(ctx, t.q)
	if err != nil {
		return 0, fmt.Errorf("promote outlier %s: %w", eventID, err)
	}
	res, err := t.q.ExecContext(ctx, `
		UPDATE events SET outlier = FALSE, stream_pos = $1
		WHERE event_id = $2 AND outlier = TRUE AND rejected = FALSE`, pos, string(eventID))
	if err != nil {
		return 0, fmt.Errorf("promote outlier %s: %w", eventID, err)
	}
	if err := expectRow(res, fmt.Sprintf("promote outlier %s", eventID)); err != nil {
		return 0, err
	}
	return pos, nil
}

// PromoteOutlierToHistory turns a stored outlier (an event first known
// as part of the room's state or an auth chain) into backfilled history:
// a timeline event with a backfill position (see EventRecord.Backfilled).
// It returns the event's NID and new position, or an error wrapping
// ErrNotFound unless the event is a non-rejected outlier.
func (t *Tx) PromoteOutlierToHistory(ctx context.Context, eventID id.EventID) (int64, int64, error) {
	var nid, pos int64
	err := t.q.QueryRowContext(ctx, `
		UPDATE events SET outlier = FALSE, stream_pos = `+t.d.backfillPosExpr()+`
		WHERE event_id = $1 AND outlier = TRUE AND rejected = FALSE
		RETURNING event_nid, stream_pos`, string(eventID)).Scan(&nid, &pos)
	if err != nil {
		return 0, 0, fmt.Errorf("promote outlier %s to history: %w", eventID, notFound(err))
	}
	return nid, pos, nil
}

// SetRedactedBecause records that redaction applies to eventID. It returns
// an error wrapping ErrNotFound if the event is not stored.
func (t *Tx) SetRedactedBecause(ctx context.Context, eventID, redaction id.EventID) error {
	res, err := t.q.ExecContext(ctx,
		`UPDATE events SET redacted_because = $1 WHERE event_id = $2`, string(redaction), string(eventID))
	if err != nil {
		return fmt.Errorf("redact %s: %w", eventID, err)
	}
	return expectRow(res, fmt.Sprintf("redact %s", eventID))
}

// Event returns one event, or an error wrapping ErrNotFound.
func (r reader) Event(ctx context.Context, eventID id.EventID) (Event, error) {
	e, err := scanEvent(r.q.QueryRowContext(ctx,
		`SELECT `+eventColumns+` FROM events WHERE event_id = $1`, string(eventID)).Scan)
	if err != nil {
		return Event{}, fmt.Errorf("load event %s: %w", eventID, notFound(err))
	}
	return e, nil
}

// EventsByID returns the stored events among ids, in the order of ids.
// Events not stored are left out.
func (r reader) EventsByID(ctx context.Context, ids []id.EventID) ([]Event, error) {
	byID := make(map[id.EventID]Event, len(ids))
	err := queryList(ctx, r, `SELECT `+eventColumns+` FROM events WHERE event_id `+anyList(1), nil, idStrings(ids),
		func(scan func(...any) error) error {
			e, err := scanEvent(scan)
			if err != nil {
				return err
			}
			byID[e.EventID] = e
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load %d events by id: %w", len(ids), err)
	}
	out := make([]Event, 0, len(byID))
	for _, eid := range ids {
		if e, ok := byID[eid]; ok {
			out = append(out, e)
			delete(byID, eid) // a repeated ID yields the event once
		}
	}
	return out, nil
}

// EventsByNID returns the events with the given NIDs, in the order of
// nids. NIDs not stored are left out.
func (r reader) EventsByNID(ctx context.Context, nids []int64) ([]Event, error) {
	byNID := make(map[int64]Event, len(nids))
	err := queryList(ctx, r, `SELECT `+eventColumns+` FROM events WHERE event_nid `+anyList(1), nil, nids,
		func(scan func(...any) error) error {
			e, err := scanEvent(scan)
			if err != nil {
				return err
			}
			byNID[e.NID] = e
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load %d events by nid: %w", len(nids), err)
	}
	out := make([]Event, 0, len(byNID))
	for _, nid := range nids {
		if e, ok := byNID[nid]; ok {
			out = append(out, e)
			delete(byNID, nid)
		}
	}
	return out, nil
}

// EventNIDs maps the stored events among ids to their NIDs.
func (r reader) EventNIDs(ctx context.Context, ids []id.EventID) (map[id.EventID]int64, error) {
	out := make(map[id.EventID]int64, len(ids))
	err := queryList(ctx, r, `SELECT event_id, event_nid FROM events WHERE event_id `+anyList(1), nil, idStrings(ids),
		func(scan func(...any) error) error {
			var eid id.EventID
			var nid int64
			if err := scan(&eid, &nid); err != nil {
				return err
			}
			out[eid] = nid
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("look up nids of %d events: %w", len(ids), err)
	}
	return out, nil
}

// RoomEventsRange returns up to limit timeline events of a room between two
// stream positions, for /messages and sync timelines. A position p stands
// for the point just after the event at p. Forward returns the events with
// from < stream_pos <= to, oldest first; Backward those with
// to < stream_pos <= from, newest first. Use to = 0 for "back to the
// start" and to = math.MaxInt64 for "up to the newest".
func (r reader) RoomEventsRange(ctx context.Context, roomID id.RoomID, from, to int64, dir Direction, limit int) ([]Event, error) {
	var query string
	switch dir {
	case Forward:
		query = `SELECT ` + eventColumns + ` FROM events
			WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3
			ORDER BY stream_pos ASC LIMIT $4`
	case Backward:
		from, to = to, from
		query = `SELECT ` + eventColumns + ` FROM events
			WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3
			ORDER BY stream_pos DESC LIMIT $4`
	default:
		return nil, fmt.Errorf("load events of %s: invalid direction %d", roomID, dir)
	}
	events, err := r.queryEvents(ctx, query, string(roomID), from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("load events of %s: %w", roomID, err)
	}
	return events, nil
}

// EventsSince returns up to limit timeline events of all rooms with a
// stream position after pos, oldest first, for sync.
func (r reader) EventsSince(ctx context.Context, pos int64, limit int) ([]Event, error) {
	events, err := r.queryEvents(ctx,
		`SELECT `+eventColumns+` FROM events WHERE stream_pos > $1 ORDER BY stream_pos ASC LIMIT $2`, pos, limit)
	if err != nil {
		return nil, fmt.Errorf("load events since %d: %w", pos, err)
	}
	return events, nil
}

func (r reader) queryEvents(ctx context.Context, query string, args ...any) ([]Event, error) {
	var out []Event
	err := r.scanRows(ctx, query, args, func(scan func(...any) error) error {
		e, err := scanEvent(scan)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func idStrings[T ~string](ids []T) []string {
	out := make([]string, len(ids))
	for i, s := range ids {
		out[i] = string(s)
	}
	return out
}
