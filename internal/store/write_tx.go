package store

import (
	"context"
	"database/sql"
	"fmt"
)

// writeTx is the writer's open transaction as its backend runs it. Its
// statements honour a caller's context between statements, never during
// one: cancelling a running statement would abort the transaction shared
// with the other jobs of the batch (SQLite rolls the whole transaction
// back on interrupt, and the PostgreSQL driver closes the connection).
//
// Statements whose only result is their error may be queued (execLater)
// and sent together with the next statement that returns rows, the end of
// the job, or the commit. Where each statement costs a network round trip
// (PostgreSQL), a job's writes then take one round trip together instead
// of one each; where statements are local calls (SQLite), execLater runs
// the statement at once.
type writeTx interface {
	querier
	// execLater runs query, or queues it to run before the transaction's
	// next statement, savepoint release or commit. check turns the
	// statement's error into the error to report; a queued statement's
	// error is reported by the call that sends it, and the statements
	// queued after it are not run. check gets no rows affected, and must
	// return nil for nil: the server has run the rest of the pipeline,
	// COMMIT included, once a statement succeeded, so only an error the
	// server raised can stop it.
	execLater(ctx context.Context, check func(err error) error, query string, args ...any) error
	// queryLater is execLater for a statement that returns rows: scan
	// reads them when the statement has run (at once, or when the queue
	// is sent), and its error is checked like the statement's. The
	// transaction's other statements must not depend on the rows.
	queryLater(ctx context.Context, check func(err error) error, scan func(rows rowIter) error, query string, args ...any) error
	// savepoint starts a job of a batch: its writes can be undone alone.
	savepoint(ctx context.Context) error
	// releaseSavepoint ends the job's savepoint, sending what is queued;
	// an error means the job failed and must be rolled back.
	releaseSavepoint(ctx context.Context) error
	// rollbackToSavepoint undoes the job's writes, queued ones included,
	// and ends its savepoint.
	rollbackToSavepoint(ctx context.Context) error
	// commit sends what is queued and commits. On error nothing is
	// committed unless the error is an ambiguous failure of the commit
	// itself.
	commit(ctx context.Context) error
	// rollback discards the transaction. It is a no-op after commit.
	rollback()
}

// stmtContext returns ctx itself when it is done, so that the statement
// fails with ctx.Err() before it reaches the driver, and otherwise a
// context that keeps ctx's values but cannot be cancelled.
func stmtContext(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// sqlWriteTx is a writeTx over a database/sql transaction, which runs every
// statement at once (SQLite).
type sqlWriteTx struct {
	tx *sql.Tx
	// cache holds the write pool's prepared statements; the transaction
	// runs on that pool's one connection, so they are reused as they are.
	cache *stmtCache
}

func beginSQLWrite(ctx context.Context, pool *sql.DB, cache *stmtCache) (writeTx, error) {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqlWriteTx{tx: tx, cache: cache}, nil
}

func (t *sqlWriteTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(stmtContext(ctx), args...)
	}
	return t.tx.ExecContext(stmtContext(ctx), query, args...)
}

func (t *sqlWriteTx) QueryContext(ctx context.Context, query string, args ...any) (rowIter, error) {
	var rows *sql.Rows
	var err error
	if s := t.stmt(ctx, query); s != nil {
		rows, err = s.QueryContext(stmtContext(ctx), args...)
	} else {
		rows, err = t.tx.QueryContext(stmtContext(ctx), query, args...)
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (t *sqlWriteTx) QueryRowContext(ctx context.Context, query string, args ...any) rowScanner {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(stmtContext(ctx), args...)
	}
	return t.tx.QueryRowContext(stmtContext(ctx), query, args...)
}

// stmt returns the cached statement for query bound to the transaction, or
// nil to run the query unprepared.
func (t *sqlWriteTx) stmt(ctx context.Context, query string) *sql.Stmt {
	s := t.cache.get(query)
	if s == nil {
		return nil
	}
	return t.tx.StmtContext(stmtContext(ctx), s)
}

// execLater runs the statement at once: a local statement costs no round
// trip, and its error is best reported where it happened.
func (t *sqlWriteTx) execLater(ctx context.Context, check func(error) error, query string, args ...any) error {
	_, err := t.ExecContext(ctx, query, args...)
	return check(err)
}

// queryLater runs the query and reads its rows at once (see execLater).
func (t *sqlWriteTx) queryLater(ctx context.Context, check func(error) error, scan func(rowIter) error, query string, args ...any) error {
	rows, err := t.QueryContext(ctx, query, args...)
	if err != nil {
		return check(err)
	}
	err = scan(rows)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return check(err)
}

func (t *sqlWriteTx) savepoint(ctx context.Context) error {
	if _, err := t.tx.ExecContext(ctx, "SAVEPOINT write_job"); err != nil {
		return fmt.Errorf("create savepoint: %w", err)
	}
	return nil
}

func (t *sqlWriteTx) releaseSavepoint(ctx context.Context) error {
	if _, err := t.tx.ExecContext(ctx, "RELEASE SAVEPOINT write_job"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

func (t *sqlWriteTx) rollbackToSavepoint(ctx context.Context) error {
	if _, err := t.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT write_job"); err != nil {
		return fmt.Errorf("roll back to savepoint: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, "RELEASE SAVEPOINT write_job"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

func (t *sqlWriteTx) commit(context.Context) error { return t.tx.Commit() }

// rollback's error adds nothing: the transaction is gone either way.
func (t *sqlWriteTx) rollback() { _ = t.tx.Rollback() }

// execLater runs a statement whose only result is its error through the
// writer's transaction (see writeTx.execLater); what describes it in the
// error. Write functions use it for inserts and updates whose outcome
// they do not branch on, so that PostgreSQL sends them together.
func (t *Tx) execLater(ctx context.Context, what string, query string, args ...any) error {
	return t.w.execLater(ctx, func(err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}, query, args...)
}
