package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// InsertedEvent is where InsertEvents stored an event.
type InsertedEvent struct {
	NID int64
	// StreamPos is the event's stream position, 0 for an outlier,
	// rejected or soft-failed event.
	StreamPos int64
}

// eventInsertCols is the number of parameters of one row of an events
// insert.
const eventInsertCols = 13

// InsertEvents stores events as InsertEvent stores each, in the given
// order: their stream positions increase along evs. Where statements cost
// a round trip to the server (PostgreSQL), the events of one call are
// stored with one statement, so a batch of events costs one round trip
// instead of one per event. It returns an error wrapping ErrExists if an
// event ID is stored already (or appears twice in evs); the other events
// of the call may then be stored or not, and the write function should
// fail.
func (t *Tx) InsertEvents(ctx context.Context, evs []EventRecord) ([]InsertedEvent, error) {
	out := make([]InsertedEvent, len(evs))
	if len(evs) == 1 || !t.d.streamPosPerRow() {
		for i, ev := range evs {
			nid, pos, err := t.InsertEvent(ctx, ev)
			if err != nil {
				return nil, err
			}
			out[i] = InsertedEvent{NID: nid, StreamPos: pos}
		}
		return out, nil
	}
	per := max(1, t.d.maxParams()/eventInsertCols)
	for start := 0; start < len(evs); start += per {
		end := min(start+per, len(evs))
		if err := t.insertEventRows(ctx, evs[start:end], out[start:end]); err != nil {
			return nil, err
		}
	}
	// The backend draws each row's position as it inserts the rows, in
	// the order of the VALUES list; the stream's order depends on it, so
	// it is checked rather than assumed.
	var last int64
	for i, ins := range out {
		if ins.StreamPos == 0 {
			continue
		}
		if ins.StreamPos <= last {
			return nil, fmt.Errorf("insert events: stream position %d of %s does not follow %d", ins.StreamPos, evs[i].EventID, last)
		}
		last = ins.StreamPos
	}
	return out, nil
}

// insertEventRows stores evs with one multi-row INSERT and fills out.
func (t *Tx) insertEventRows(ctx context.Context, evs []EventRecord, out []InsertedEvent) error {
	query, args, index, err := t.eventRows(evs, " ON CONFLICT (event_id) DO NOTHING")
	if err != nil {
		return err
	}
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(evs), err)
	}
	found := make([]bool, len(evs))
	err = scanInserted(rows, index, found, out)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(evs), err)
	}
	for i, ok := range found {
		if !ok {
			return fmt.Errorf("insert event %s: %w", evs[i].EventID, ErrExists)
		}
	}
	return nil
}

// eventRows returns the multi-row INSERT of evs, with suffix before its
// RETURNING clause, its arguments and each event's index in evs. An event
// named twice fails with ErrExists.
func (t *Tx) eventRows(evs []EventRecord, suffix string) (string, []any, map[id.EventID]int, error) {
	var b strings.Builder
	b.WriteString(`INSERT INTO events (event_id, room_id, type, state_key, sender, depth, origin_server_ts,
		stream_pos, json, rejected, outlier, txn_device_id, txn_id, soft_failed) VALUES `)
	args := make([]any, 0, len(evs)*eventInsertCols)
	index := make(map[id.EventID]int, len(evs))
	for i, ev := range evs {
		if _, dup := index[ev.EventID]; dup {
			return "", nil, nil, fmt.Errorf("insert event %s: %w", ev.EventID, ErrExists)
		}
		index[ev.EventID] = i
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		b.WriteByte('(')
		for c := 1; c <= eventInsertCols; c++ {
			if c == 8 {
				if ev.Outlier || ev.Rejected || ev.SoftFailed {
					b.WriteString("NULL, ")
				} else {
					b.WriteString(t.d.nextStreamPosExpr())
					b.WriteString(", ")
				}
			}
			b.WriteString(t.d.rowParam(n + c))
			if c < eventInsertCols {
				b.WriteString(", ")
			}
		}
		b.WriteByte(')')
		var stateKey sql.NullString
		if ev.StateKey != nil {
			stateKey = sql.NullString{String: *ev.StateKey, Valid: true}
		}
		args = append(args, string(ev.EventID), string(ev.RoomID), ev.Type, stateKey, string(ev.Sender), ev.Depth,
			ev.OriginServerTS, ev.JSON, ev.Rejected, ev.Outlier, nullString(string(ev.TxnDeviceID)),
			nullString(ev.TxnID), ev.SoftFailed)
	}
	b.WriteString(suffix)
	b.WriteString(" RETURNING event_id, event_nid, stream_pos")
	return b.String(), args, index, nil
}

// InsertEventsLater stores events as InsertEvents does, but where the
// writer queues statements (see Tx.execLater) it queues the insert too:
// done gets the events' NIDs and stream positions once it has run, at
// once or when the queue is sent, at the latest with the commit and
// before any after-commit function runs. Until then the events have no
// NID in the write function, so statements that refer to them name them
// by ID (SetEventStateOf); an event stored already, or named twice, fails
// the write function with ErrExists, from this call or a later statement
// that sends the queue.
func (t *Tx) InsertEventsLater(ctx context.Context, evs []EventRecord, done func([]InsertedEvent)) error {
	if !t.d.streamPosPerRow() || len(evs) > t.d.maxParams()/eventInsertCols {
		out, err := t.InsertEvents(ctx, evs)
		if err != nil {
			return err
		}
		done(out)
		return nil
	}
	// Without ON CONFLICT a stored event ID stops the queue at the server,
	// so that nothing after it runs and the commit fails.
	query, args, index, err := t.eventRows(evs, "")
	if err != nil {
		return err
	}
	check := func(err error) error {
		if t.d.isUniqueViolation(err) {
			return fmt.Errorf("insert %d events: %w", len(evs), ErrExists)
		}
		if err != nil {
			return fmt.Errorf("insert %d events: %w", len(evs), err)
		}
		return nil
	}
	scan := func(rows rowIter) error {
		out := make([]InsertedEvent, len(evs))
		found := make([]bool, len(evs))
		if err := scanInserted(rows, index, found, out); err != nil {
			return err
		}
		var last int64
		for i, ins := range out {
			if !found[i] {
				return fmt.Errorf("no row returned for %s", evs[i].EventID)
			}
			if ins.StreamPos == 0 {
				continue
			}
			if ins.StreamPos <= last {
				return fmt.Errorf("stream position %d of %s does not follow %d", ins.StreamPos, evs[i].EventID, last)
			}
			last = ins.StreamPos
		}
		done(out)
		return nil
	}
	return t.w.queryLater(ctx, check, scan, query, args...)
}

// scanInserted reads the rows an events insert returned into out.
func scanInserted(rows rowIter, index map[id.EventID]int, found []bool, out []InsertedEvent) error {
	for rows.Next() {
		var eid string
		var nid int64
		var pos sql.NullInt64
		if err := rows.Scan(&eid, &nid, &pos); err != nil {
			return err
		}
		i, ok := index[id.EventID(eid)]
		if !ok {
			return fmt.Errorf("returned unknown event %s", eid)
		}
		found[i] = true
		out[i] = InsertedEvent{NID: nid, StreamPos: pos.Int64}
	}
	return rows.Err()
}
