package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// querier is what the shared statements run on: a connection pool for
// reads, or the writer's transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader holds the read methods. DB embeds it over its read pool, Tx over
// the write transaction, so every read is available on both.
type reader struct {
	q querier
	d dialect
}

// DB is an open Hafen database. Its read methods are safe for concurrent
// use; all writes go through Write.
type DB struct {
	reader
	b      *backend
	logger *slog.Logger
	w      *writer

	// maxStateDelta bounds a state group's delta chain (see
	// StoreStateGroup). Tests lower it.
	maxStateDelta int

	closeOnce sync.Once
	closeErr  error
}

// Close stops the writer, after it has run every write already queued, and
// closes the connection pools. Writes after Close fail with ErrClosed.
// Close may be called more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.w.stop()
		db.closeErr = db.b.close()
	})
	return db.closeErr
}

func (b *backend) close() error {
	b.readStmts.close()
	b.writeStmts.close()
	var errs []error
	if b.read != b.write {
		if err := b.read.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close read pool: %w", err))
		}
	}
	if err := b.write.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close write pool: %w", err))
	}
	return errors.Join(errs...)
}

// txQuerier runs statements inside the writer's transaction. A caller's
// context is honoured between statements, never during one: cancelling a
// running statement would abort the transaction shared with the other jobs
// of the batch (SQLite rolls the whole transaction back on interrupt, and
// the PostgreSQL driver closes the connection).
type txQuerier struct {
	tx *sql.Tx
	// cache holds the write pool's prepared statements; the transaction
	// runs on that pool's one connection, so they are reused as they are.
	cache *stmtCache
}

// stmtContext returns ctx itself when it is done, so database/sql fails the
// statement with ctx.Err() before it reaches the driver, and otherwise a
// context that keeps ctx's values but cannot be cancelled.
func stmtContext(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

func (t txQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(stmtContext(ctx), args...)
	}
	return t.tx.ExecContext(stmtContext(ctx), query, args...)
}

func (t txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryContext(stmtContext(ctx), args...)
	}
	return t.tx.QueryContext(stmtContext(ctx), query, args...)
}

func (t txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(stmtContext(ctx), args...)
	}
	return t.tx.QueryRowContext(stmtContext(ctx), query, args...)
}

// stmt returns the cached statement for query bound to the transaction, or
// nil to run the query unprepared.
func (t txQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.cache == nil {
		return nil
	}
	s := t.cache.get(query)
	if s == nil {
		return nil
	}
	return t.tx.StmtContext(stmtContext(ctx), s)
}

// notFound turns sql.ErrNoRows into ErrNotFound and leaves other errors as
// they are.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// nullString maps "" to NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// nullInt64 maps 0 to NULL.
func nullInt64(n int64) sql.NullInt64 {
	return sql.NullInt64{Int64: n, Valid: n != 0}
}

// expectRow returns an error wrapping ErrNotFound unless res affected a row.
func expectRow(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: rows affected: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
