package store

import (
	"context"
	"fmt"
)

// Stream positions order every timeline event of every room in one global
// stream, which sync and /messages page through. A position is allocated
// inside the write transaction that stores the event (see
// dialect.nextStreamPos):
//
//   - On SQLite, the single writer allocates MAX+1. Positions are
//     gap-free and commit in order.
//   - On PostgreSQL, positions come from the sequence stream_pos_seq.
//     Sequences never repeat a number, so several Hafen processes sharing
//     one database can allocate positions without colliding; numbers of
//     rolled-back writes are skipped, so there may be gaps. With one writer
//     per process, positions commit in order. Once several processes write,
//     a position may commit after a higher one, and readers must then stop
//     at the lowest position still in flight across writers (each writer
//     publishing its own) instead of MaxStreamPos.
//
// NIDs and state group IDs are identity columns (sequences on PostgreSQL)
// for the same reason: they never collide between writers.

// MaxStreamPos returns the highest stream position of a committed event,
// or 0 if there is none.
func (r reader) MaxStreamPos(ctx context.Context) (int64, error) {
	var pos int64
	if err := r.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM events`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("load max stream position: %w", err)
	}
	return pos, nil
}

// StreamEvents returns up to limit timeline events of all rooms with
// after < stream_pos <= upto, oldest first: the committed stream that
// consumers read in order. Callers pass as upto a position the event path
// has published, never more (see the ordering note above).
func (r reader) StreamEvents(ctx context.Context, after, upto int64, limit int) ([]Event, error) {
	events, err := r.queryEvents(ctx, `SELECT `+eventColumns+` FROM events
		WHERE stream_pos > $1 AND stream_pos <= $2 ORDER BY stream_pos ASC LIMIT $3`, after, upto, limit)
	if err != nil {
		return nil, fmt.Errorf("load stream events in (%d, %d]: %w", after, upto, err)
	}
	return events, nil
}
