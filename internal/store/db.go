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
	QueryContext(ctx context.Context, query string, args ...any) (rowIter, error)
	QueryRowContext(ctx context.Context, query string, args ...any) rowScanner
}

// rowScanner is one row of a result (*sql.Row, or the PostgreSQL writer's
// row). Scan returns sql.ErrNoRows for a query that returned none.
type rowScanner interface {
	Scan(dest ...any) error
}

// rowIter walks the rows of a result (*sql.Rows, or the PostgreSQL
// writer's rows).
type rowIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
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
	// derived is the database of derived data where it is apart from
	// this one (see Derived); nil otherwise.
	derived *DB

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
		var errs []error
		if db.derived != nil {
			if err := db.derived.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close derived database: %w", err))
			}
		}
		db.w.stop()
		if err := db.b.close(); err != nil {
			errs = append(errs, err)
		}
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

func (b *backend) close() error {
	b.readStmts.close()
	b.writeStmts.close()
	var errs []error
	if b.closeWriter != nil {
		if err := b.closeWriter(); err != nil {
			errs = append(errs, fmt.Errorf("close writer connection: %w", err))
		}
	}
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
