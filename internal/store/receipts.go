package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// receipts holds each user's newest receipt per room, type and thread
// (thread_id ” for an unthreaded receipt). stream_pos is the receipt's
// position in the receipt stream, a stream of its own that sync tokens
// carry; it is allocated as max+1 by the single writer.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#receipts
const receiptsSchema = `
CREATE TABLE receipts (
	room_id      TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	receipt_type TEXT NOT NULL,
	thread_id    TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	ts           BIGINT NOT NULL,
	stream_pos   BIGINT NOT NULL,
	PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_by_pos ON receipts (stream_pos)`

// Receipt is one user's receipt in a room.
type Receipt struct {
	RoomID id.RoomID
	UserID id.UserID
	// Type is m.read or m.read.private.
	Type string
	// ThreadID is "" for an unthreaded receipt, "main" or a thread root.
	ThreadID  string
	EventID   id.EventID
	TS        int64
	StreamPos int64
}

const receiptColumns = `room_id, user_id, receipt_type, thread_id, event_id, ts, stream_pos`

func scanReceipt(scan func(...any) error) (Receipt, error) {
	var r Receipt
	var room, user, ev string
	err := scan(&room, &user, &r.Type, &r.ThreadID, &ev, &r.TS, &r.StreamPos)
	r.RoomID, r.UserID, r.EventID = id.RoomID(room), id.UserID(user), id.EventID(ev)
	return r, err
}

// SetReceipt stores a receipt, replacing the user's previous one of the
// same room, type and thread, and returns its stream position.
func (t *Tx) SetReceipt(ctx context.Context, r Receipt) (int64, error) {
	var pos int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM receipts`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("allocate receipt position: %w", err)
	}
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO receipts (`+receiptColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE
		SET event_id = excluded.event_id, ts = excluded.ts, stream_pos = excluded.stream_pos`,
		string(r.RoomID), string(r.UserID), r.Type, r.ThreadID, string(r.EventID), r.TS, pos)
	if err != nil {
		return 0, fmt.Errorf("store receipt of %s in %s: %w", r.UserID, r.RoomID, err)
	}
	return pos, nil
}

// SetReceiptsLater stores receipts as SetReceipt does and calls done with
// their stream positions, in the order of rcs, once they are known: the
// statements that allocate the positions and store the receipts are one,
// queued like execLater's, so that on PostgreSQL a batch of receipts adds
// no round trip of its own to the writer's transaction. done runs before
// the transaction commits (at once on SQLite); the write function must
// not need the positions before it returns. No two receipts of rcs may
// share room, user, type and thread.
func (t *Tx) SetReceiptsLater(ctx context.Context, rcs []Receipt, done func(pos []int64)) error {
	if len(rcs) == 0 {
		done(nil)
		return nil
	}
	const cols = 7
	pos := make([]int64, len(rcs))
	chunk := max(1, t.d.maxParams()/cols)
	for start := 0; start < len(rcs); start += chunk {
		part := rcs[start:min(start+chunk, len(rcs))]
		args := make([]any, 0, cols*len(part))
		for i, r := range part {
			args = append(args, string(r.RoomID), string(r.UserID), r.Type, r.ThreadID, string(r.EventID), r.TS, int64(i+1))
		}
		// Each row's position is the largest stored before the
		// statement plus its ordinal; a later chunk's statement sees the
		// rows of the earlier ones.
		var b strings.Builder
		b.WriteString(`
			INSERT INTO receipts (` + receiptColumns + `)
			SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6,
				(SELECT COALESCE(MAX(stream_pos), 0) FROM receipts) + v.column7
			FROM (VALUES `)
		for i := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			// The casts type the parameters, which a VALUES list in
			// FROM leaves as text on PostgreSQL.
			p := func(c int) string { return t.d.rowParam(i*cols + c) }
			fmt.Fprintf(&b, "(%s, %s, %s, %s, %s, CAST(%s AS BIGINT), CAST(%s AS BIGINT))", p(1), p(2), p(3), p(4), p(5), p(6), p(7))
		}
		b.WriteString(`) AS v
			WHERE true
			ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE
			SET event_id = excluded.event_id, ts = excluded.ts, stream_pos = excluded.stream_pos
			RETURNING stream_pos`)
		query := b.String()
		first, last := start, start+len(part)
		scan := func(rows rowIter) error {
			var lowest int64
			n := 0
			for rows.Next() {
				var p int64
				if err := rows.Scan(&p); err != nil {
					return err
				}
				if n == 0 || p < lowest {
					lowest = p
				}
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if n != last-first {
				return fmt.Errorf("%d rows returned, want %d", n, last-first)
			}
			for i := first; i < last; i++ {
				pos[i] = lowest + int64(i-first)
			}
			if last == len(rcs) {
				done(pos)
			}
			return nil
		}
		check := func(err error) error {
			if err != nil {
				return fmt.Errorf("store %d receipts: %w", len(part), err)
			}
			return nil
		}
		if err := t.w.queryLater(ctx, check, scan, query, args...); err != nil {
			return err
		}
	}
	return nil
}

// RoomReceipts returns the current receipts of a room.
func (r reader) RoomReceipts(ctx context.Context, roomID id.RoomID) ([]Receipt, error) {
	return r.receipts(ctx, `SELECT `+receiptColumns+` FROM receipts WHERE room_id = $1 ORDER BY stream_pos`, string(roomID))
}

// ReceiptsSince returns the receipts of every room stored after stream
// position since, in stream order, at most limit.
func (r reader) ReceiptsSince(ctx context.Context, since int64, limit int) ([]Receipt, error) {
	return r.receipts(ctx, `SELECT `+receiptColumns+` FROM receipts WHERE stream_pos > $1 ORDER BY stream_pos LIMIT $2`, since, limit)
}

// UserReceipts returns the user's receipts in a room.
func (r reader) UserReceipts(ctx context.Context, roomID id.RoomID, userID id.UserID) ([]Receipt, error) {
	return r.receipts(ctx, `SELECT `+receiptColumns+` FROM receipts WHERE room_id = $1 AND user_id = $2`, string(roomID), string(userID))
}

func (r reader) receipts(ctx context.Context, query string, args ...any) ([]Receipt, error) {
	var out []Receipt
	err := r.scanRows(ctx, query, args, func(scan func(...any) error) error {
		rc, err := scanReceipt(scan)
		if err != nil {
			return err
		}
		out = append(out, rc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load receipts: %w", err)
	}
	return out, nil
}

// MaxReceiptPos returns the newest position of the receipt stream (0 when
// empty).
func (r reader) MaxReceiptPos(ctx context.Context) (int64, error) {
	var pos int64
	if err := r.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM receipts`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read receipt position: %w", err)
	}
	return pos, nil
}
