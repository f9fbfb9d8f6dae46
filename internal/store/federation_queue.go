package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// federation_queue holds the outbound queue of each destination server:
// the events of this server still to be sent there, by their stream
// position (the PDU itself is the events row). The federation sender
// writes the entries of a batch of committed events in the same
// transaction as its consumer position, so no event is lost or queued
// twice across a crash. txn_id marks the entries of the transaction in
// flight: they are sent again under the same ID until the destination
// accepts it, so it can recognise a retry.
//
// federation_destinations holds each destination's delivery state, for the
// sender's backoff after a restart and for `hafen federation status`.
const federationQueueSchema = `
CREATE TABLE federation_queue (
	destination TEXT NOT NULL,
	stream_pos  BIGINT NOT NULL,
	room_id     TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	txn_id      TEXT,
	PRIMARY KEY (destination, stream_pos)
);
CREATE TABLE federation_destinations (
	destination     TEXT PRIMARY KEY,
	failures        BIGINT NOT NULL DEFAULT 0,
	next_retry_ts   BIGINT NOT NULL DEFAULT 0,
	last_success_ts BIGINT NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	last_error_ts   BIGINT NOT NULL DEFAULT 0
)`

// QueuedPDU is one entry of a destination's outbound queue.
type QueuedPDU struct {
	Destination id.ServerName
	StreamPos   int64
	RoomID      id.RoomID
	EventID     id.EventID
}

// Destination is the delivery state of a destination server.
type Destination struct {
	Name id.ServerName
	// Queued is the number of queued PDUs, QueuedEDUs of queued EDUs.
	Queued     int
	QueuedEDUs int
	// Failures counts the failed attempts since the last success.
	Failures int
	// NextRetryTS, LastSuccessTS and LastErrorTS are in milliseconds
	// since the epoch; 0 for never.
	NextRetryTS   int64
	LastSuccessTS int64
	LastError     string
	LastErrorTS   int64
}

// EnqueuePDUs adds entries to their destinations' queues; an entry queued
// already (the same destination and stream position) is kept as it is.
func (t *Tx) EnqueuePDUs(ctx context.Context, entries []QueuedPDU) error {
	seen := map[id.ServerName]bool{}
	for _, e := range entries {
		if !seen[e.Destination] {
			seen[e.Destination] = true
			if _, err := t.q.ExecContext(ctx, `
				INSERT INTO federation_destinations (destination) VALUES ($1)
				ON CONFLICT (destination) DO NOTHING`, string(e.Destination)); err != nil {
				return fmt.Errorf("record destination %s: %w", e.Destination, err)
			}
		}
		if _, err := t.q.ExecContext(ctx, `
			INSERT INTO federation_queue (destination, stream_pos, room_id, event_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (destination, stream_pos) DO NOTHING`,
			string(e.Destination), e.StreamPos, string(e.RoomID), string(e.EventID)); err != nil {
			return fmt.Errorf("queue %s for %s: %w", e.EventID, e.Destination, err)
		}
	}
	return nil
}

// InFlightPDUs returns the entries of a destination's transaction in
// flight and its ID, oldest first, or none.
func (r reader) InFlightPDUs(ctx context.Context, dest id.ServerName) (string, []QueuedPDU, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT stream_pos, room_id, event_id, txn_id FROM federation_queue
		WHERE destination = $1 AND txn_id IS NOT NULL ORDER BY stream_pos`, string(dest))
	if err != nil {
		return "", nil, fmt.Errorf("load transaction in flight to %s: %w", dest, err)
	}
	defer rows.Close()
	var txnID string
	var out []QueuedPDU
	for rows.Next() {
		e := QueuedPDU{Destination: dest}
		var txn string
		if err := rows.Scan(&e.StreamPos, &e.RoomID, &e.EventID, &txn); err != nil {
			return "", nil, fmt.Errorf("load transaction in flight to %s: %w", dest, err)
		}
		if txnID == "" {
			txnID = txn
		}
		if txn == txnID {
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("load transaction in flight to %s: %w", dest, err)
	}
	return txnID, out, nil
}

// QueuedPDUs returns up to limit entries of a destination's queue that are
// in no transaction yet, oldest first.
func (r reader) QueuedPDUs(ctx context.Context, dest id.ServerName, limit int) ([]QueuedPDU, error) {
	rows, err := r.q.QueryContext(ctx, `
		SELECT stream_pos, room_id, event_id FROM federation_queue
		WHERE destination = $1 AND txn_id IS NULL ORDER BY stream_pos LIMIT $2`, string(dest), limit)
	if err != nil {
		return nil, fmt.Errorf("load queue of %s: %w", dest, err)
	}
	defer rows.Close()
	var out []QueuedPDU
	for rows.Next() {
		e := QueuedPDU{Destination: dest}
		if err := rows.Scan(&e.StreamPos, &e.RoomID, &e.EventID); err != nil {
			return nil, fmt.Errorf("load queue of %s: %w", dest, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load queue of %s: %w", dest, err)
	}
	return out, nil
}

// QueueLength returns the number of entries in a destination's queue.
func (r reader) QueueLength(ctx context.Context, dest id.ServerName) (int, error) {
	var n int
	if err := r.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_queue WHERE destination = $1`, string(dest)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count queue of %s: %w", dest, err)
	}
	return n, nil
}

// StartTransaction marks the entries of a destination's queue at the
// given stream positions as the transaction txnID.
func (t *Tx) StartTransaction(ctx context.Context, dest id.ServerName, txnID string, positions []int64) error {
	for _, pos := range positions {
		if _, err := t.q.ExecContext(ctx, `
			UPDATE federation_queue SET txn_id = $1 WHERE destination = $2 AND stream_pos = $3`,
			txnID, string(dest), pos); err != nil {
			return fmt.Errorf("start transaction %s to %s: %w", txnID, dest, err)
		}
	}
	return nil
}

// CompleteTransaction removes the entries (PDUs and EDUs) of a delivered
// transaction from a destination's queues and records the success at nowMS.
func (t *Tx) CompleteTransaction(ctx context.Context, dest id.ServerName, txnID string, nowMS int64) error {
	for _, table := range []string{"federation_queue", "federation_edu_queue"} {
		if _, err := t.q.ExecContext(ctx, `DELETE FROM `+table+` WHERE destination = $1 AND txn_id = $2`,
			string(dest), txnID); err != nil {
			return fmt.Errorf("complete transaction %s to %s: %w", txnID, dest, err)
		}
	}
	if _, err := t.q.ExecContext(ctx, `
		INSERT INTO federation_destinations (destination, last_success_ts) VALUES ($1, $2)
		ON CONFLICT (destination) DO UPDATE SET failures = 0, next_retry_ts = 0, last_success_ts = excluded.last_success_ts`,
		string(dest), nowMS); err != nil {
		return fmt.Errorf("record success of %s: %w", dest, err)
	}
	return nil
}

// RecordFailure records a failed attempt to reach a destination at nowMS:
// the number of failures since the last success, the error and when to
// try again.
func (t *Tx) RecordFailure(ctx context.Context, dest id.ServerName, failures int, nextRetryTS int64, msg string, nowMS int64) error {
	if _, err := t.q.ExecContext(ctx, `
		INSERT INTO federation_destinations (destination, failures, next_retry_ts, last_error, last_error_ts)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (destination) DO UPDATE SET failures = excluded.failures, next_retry_ts = excluded.next_retry_ts,
			last_error = excluded.last_error, last_error_ts = excluded.last_error_ts`,
		string(dest), failures, nextRetryTS, msg, nowMS); err != nil {
		return fmt.Errorf("record failure of %s: %w", dest, err)
	}
	return nil
}

// CompactQueue keeps, of the entries of a destination's queue that are in
// no transaction yet, only the newest of each room, and returns how many
// it removed. A server catching up after an outage gets the newest event
// of each room and fetches the gap before it with /get_missing_events.
func (t *Tx) CompactQueue(ctx context.Context, dest id.ServerName) (int64, error) {
	res, err := t.q.ExecContext(ctx, `
		DELETE FROM federation_queue
		WHERE destination = $1 AND txn_id IS NULL AND stream_pos < (
			SELECT MAX(q.stream_pos) FROM federation_queue q
			WHERE q.destination = federation_queue.destination AND q.room_id = federation_queue.room_id
				AND q.txn_id IS NULL)`, string(dest))
	if err != nil {
		return 0, fmt.Errorf("compact queue of %s: %w", dest, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("compact queue of %s: %w", dest, err)
	}
	return n, nil
}

// Destinations returns the delivery state of every destination ever
// queued for, by name. With queuedOnly, only those with queued PDUs or
// EDUs.
func (r reader) Destinations(ctx context.Context, queuedOnly bool) ([]Destination, error) {
	query := `
		SELECT d.destination, COALESCE(q.n, 0), COALESCE(e.n, 0), d.failures, d.next_retry_ts, d.last_success_ts, d.last_error, d.last_error_ts
		FROM federation_destinations d
		LEFT JOIN (SELECT destination, COUNT(*) AS n FROM federation_queue GROUP BY destination) q
			ON q.destination = d.destination
		LEFT JOIN (SELECT destination, COUNT(*) AS n FROM federation_edu_queue GROUP BY destination) e
			ON e.destination = d.destination`
	if queuedOnly {
		query += ` WHERE q.n > 0 OR e.n > 0`
	}
	rows, err := r.q.QueryContext(ctx, query+` ORDER BY d.destination`)
	if err != nil {
		return nil, fmt.Errorf("load federation destinations: %w", err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		var d Destination
		var n, ne sql.NullInt64
		if err := rows.Scan(&d.Name, &n, &ne, &d.Failures, &d.NextRetryTS, &d.LastSuccessTS, &d.LastError, &d.LastErrorTS); err != nil {
			return nil, fmt.Errorf("load federation destinations: %w", err)
		}
		d.Queued, d.QueuedEDUs = int(n.Int64), int(ne.Int64)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load federation destinations: %w", err)
	}
	return out, nil
}
