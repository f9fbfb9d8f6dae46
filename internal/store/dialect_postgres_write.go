package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgWriter is the PostgreSQL writer's own connection. Reads use the
// database/sql pool; the writer talks to the server through pgx directly,
// so that it can pipeline: the statements of a transaction that return
// nothing but their error are queued and sent in one round trip together
// with the next statement that returns rows, or with the commit. Each
// statement is prepared once per connection (pgx's statement cache).
//
// Only the writer uses the connection, one transaction at a time, and Close
// closes it after the writer has stopped, so it needs no lock.
type pgWriter struct {
	dsn  string
	conn *pgx.Conn
	// lastUsed is when the connection last began a transaction.
	lastUsed time.Time
	// idleCheck is how long the connection may sit idle before a
	// transaction first checks that the server has not closed it.
	idleCheck time.Duration
	// roundTrips counts the pipelines sent, for tests.
	roundTrips atomic.Int64
}

// pgWriterIdleCheck is pgWriter.idleCheck. The check waits up to a
// millisecond for a sign of a closed connection, so busy writers skip it;
// an idle connection is where a server restart or an idle timeout would
// otherwise fail the next write.
const pgWriterIdleCheck = 30 * time.Second

// connect returns the open connection, reconnecting if the last one broke
// or, after idleCheck without use, was closed by the server.
func (w *pgWriter) connect(ctx context.Context) (*pgx.Conn, error) {
	now := time.Now()
	if w.conn != nil && !w.conn.IsClosed() && now.Sub(w.lastUsed) >= w.idleCheck {
		if err := w.conn.PgConn().CheckConn(); err != nil {
			w.conn.Close(ctx) // broken already: the error adds nothing
		}
	}
	w.lastUsed = now
	if w.conn != nil && !w.conn.IsClosed() {
		return w.conn, nil
	}
	conn, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		return nil, fmt.Errorf("connect writer to postgres: %w", err)
	}
	w.conn = conn
	return conn, nil
}

func (w *pgWriter) close() error {
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close(context.Background())
	w.conn = nil
	return err
}

// begin starts a transaction. BEGIN itself is queued: it travels with the
// transaction's first statements.
func (w *pgWriter) begin(ctx context.Context) (writeTx, error) {
	conn, err := w.connect(ctx)
	if err != nil {
		return nil, err
	}
	t := &pgWriteTx{conn: conn, spQueued: -1, roundTrips: &w.roundTrips}
	t.queue(func(err error) error {
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		return nil
	}, "BEGIN")
	return t, nil
}

// pgWriteTx is a transaction on the writer's connection, with its queue of
// statements not yet sent.
type pgWriteTx struct {
	conn       *pgx.Conn
	roundTrips *atomic.Int64
	pending    []pgQueued
	// spQueued is the index in pending of the current job's SAVEPOINT
	// while it has not been sent, or -1.
	spQueued int
	// done is set once the transaction committed or was rolled back.
	done bool
}

type pgQueued struct {
	query string
	args  []any
	check func(err error) error
	// scan, if set, reads the statement's rows (queryLater).
	scan func(rows rowIter) error
}

func (t *pgWriteTx) queue(check func(error) error, query string, args ...any) {
	t.pending = append(t.pending, pgQueued{query: query, args: args, check: check})
}

// result reads the result of queued statement q from the pipeline.
func (q *pgQueued) result(br pgx.BatchResults) error {
	if q.scan == nil {
		_, err := br.Exec()
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	err = q.scan(pgQueuedRows{rows})
	rows.Close()
	if rerr := rows.Err(); err == nil {
		err = rerr
	}
	return err
}

// pgQueuedRows are the rows of a queued statement; the pipeline goes on
// after them.
type pgQueuedRows struct{ rows pgx.Rows }

func (r pgQueuedRows) Next() bool             { return r.rows.Next() }
func (r pgQueuedRows) Scan(dest ...any) error { return r.rows.Scan(dest...) }
func (r pgQueuedRows) Err() error             { return r.rows.Err() }

func (r pgQueuedRows) Close() error {
	r.rows.Close()
	return r.rows.Err()
}

// send sends the queued statements, followed by query (if not empty), in
// one pipeline, and checks the queued ones. It returns the batch's results
// positioned at query's result, which the caller must close. If a queued
// statement failed, send closes the results and returns its error.
func (t *pgWriteTx) send(ctx context.Context, query string, args ...any) (pgx.BatchResults, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pending := t.pending
	t.pending = nil
	t.spQueued = -1
	b := &pgx.Batch{}
	for _, q := range pending {
		b.Queue(q.query, q.args...)
	}
	if query != "" {
		b.Queue(query, args...)
	}
	if b.Len() == 0 {
		return nil, nil
	}
	// A running pipeline is never interrupted (see writeTx).
	t.roundTrips.Add(1)
	br := t.conn.SendBatch(context.WithoutCancel(ctx), b)
	for i := range pending {
		q := &pending[i]
		if cerr := q.check(q.result(br)); cerr != nil {
			br.Close()
			return nil, cerr
		}
	}
	return br, nil
}

// flush sends the queued statements.
func (t *pgWriteTx) flush(ctx context.Context) error {
	br, err := t.send(ctx, "")
	if err != nil || br == nil {
		return err
	}
	return br.Close()
}

func (t *pgWriteTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	br, err := t.send(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return pgResult(tag), nil
}

func (t *pgWriteTx) QueryContext(ctx context.Context, query string, args ...any) (rowIter, error) {
	br, err := t.send(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &pgRows{rows: rows, br: br}, nil
}

func (t *pgWriteTx) QueryRowContext(ctx context.Context, query string, args ...any) rowScanner {
	br, err := t.send(ctx, query, args...)
	if err != nil {
		return errRow{err}
	}
	return &pgRow{row: br.QueryRow(), br: br}
}

func (t *pgWriteTx) execLater(_ context.Context, check func(error) error, query string, args ...any) error {
	t.queue(check, query, args...)
	return nil
}

func (t *pgWriteTx) queryLater(_ context.Context, check func(error) error, scan func(rowIter) error, query string, args ...any) error {
	t.pending = append(t.pending, pgQueued{query: query, args: args, check: check, scan: scan})
	return nil
}

func (t *pgWriteTx) savepoint(context.Context) error {
	t.spQueued = len(t.pending)
	t.queue(func(err error) error {
		if err != nil {
			return fmt.Errorf("create savepoint: %w", err)
		}
		return nil
	}, "SAVEPOINT write_job")
	return nil
}

func (t *pgWriteTx) releaseSavepoint(ctx context.Context) error {
	t.queue(func(err error) error {
		if err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}, "RELEASE SAVEPOINT write_job")
	return t.flush(ctx)
}

func (t *pgWriteTx) rollbackToSavepoint(ctx context.Context) error {
	if t.spQueued >= 0 {
		// Nothing of the job reached the server: forget it.
		t.pending = t.pending[:t.spQueued]
		t.spQueued = -1
		return nil
	}
	// Everything queued belongs to the failed job; none of it is sent.
	t.pending = nil
	if _, err := t.ExecContext(ctx, "ROLLBACK TO SAVEPOINT write_job"); err != nil {
		return fmt.Errorf("roll back to savepoint: %w", err)
	}
	t.queue(func(err error) error {
		if err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}, "RELEASE SAVEPOINT write_job")
	return nil
}

// commit sends the queued statements and COMMIT in one pipeline.
func (t *pgWriteTx) commit(ctx context.Context) error {
	br, err := t.send(ctx, "COMMIT")
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A COMMIT of a transaction the server had aborted answers ROLLBACK.
	if tag.String() != "COMMIT" {
		return errors.New("transaction was rolled back")
	}
	t.done = true
	return nil
}

func (t *pgWriteTx) rollback() {
	if t.done {
		return
	}
	t.done = true
	t.pending = nil
	if t.conn.PgConn().TxStatus() == 'I' {
		return // BEGIN never reached the server, or the transaction ended
	}
	// The writer's context is not tied to a caller (see writer.runBatch).
	t.roundTrips.Add(1)
	if _, err := t.conn.Exec(context.Background(), "ROLLBACK"); err != nil {
		// The connection is unusable; the next transaction reconnects.
		t.conn.Close(context.Background())
	}
}

// pgResult is a statement's command tag as a sql.Result.
type pgResult pgconn.CommandTag

func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("LastInsertId is not supported by postgres")
}

func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// pgRow is the one row of a pipelined query; Scan ends the pipeline.
type pgRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *pgRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}

// errRow is a row whose query failed before it ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// pgRows are the rows of a pipelined query; Close ends the pipeline.
type pgRows struct {
	rows pgx.Rows
	br   pgx.BatchResults
}

func (r *pgRows) Next() bool             { return r.rows.Next() }
func (r *pgRows) Scan(dest ...any) error { return r.rows.Scan(dest...) }
func (r *pgRows) Err() error             { return r.rows.Err() }

func (r *pgRows) Close() error {
	r.rows.Close()
	err := r.rows.Err()
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}
