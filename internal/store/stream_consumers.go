package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stream_consumers holds the stream position of each durable consumer of
// the event stream (the federation sender, push, appservices): every
// event at or before stream_pos has been handled, so after a restart the
// consumer resumes after it and loses nothing.
const streamConsumersSchema = `
CREATE TABLE stream_consumers (
	name       TEXT PRIMARY KEY,
	stream_pos BIGINT NOT NULL
)`

// ConsumerPosition returns the stored position of the named stream
// consumer, and false if it has none yet.
func (r reader) ConsumerPosition(ctx context.Context, name string) (int64, bool, error) {
	var pos int64
	err := r.q.QueryRowContext(ctx, `SELECT stream_pos FROM stream_consumers WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("load position of consumer %s: %w", name, err)
	}
	return pos, true, nil
}

// SetConsumerPosition records that the named stream consumer has handled
// every event up to and including stream position pos. A position never
// moves back: a lower pos than the stored one is ignored.
func (t *Tx) SetConsumerPosition(ctx context.Context, name string, pos int64) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO stream_consumers (name, stream_pos) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET stream_pos = excluded.stream_pos
		WHERE stream_consumers.stream_pos < excluded.stream_pos`, name, pos)
	if err != nil {
		return fmt.Errorf("set position of consumer %s: %w", name, err)
	}
	return nil
}
