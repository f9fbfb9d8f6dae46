package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrDatabaseInUse is returned (wrapped) by LockProcess when another
// process holds the database.
var ErrDatabaseInUse = errors.New("in use by another hafen process")

// ProcessLock is a held LockProcess lock.
type ProcessLock struct {
	db *sql.DB
}

// LockProcess makes this process the only Hafen server on the database
// that dsn names, until Release or the end of the process. Hafen keeps
// each room's head in memory, so two servers writing one database would
// fork room graphs; until several processes are supported deliberately a
// second one is refused.
//
// On PostgreSQL it takes a session-level advisory lock, keyed by the
// schema (so servers in different schemas of one database do not collide),
// on a connection of its own that stays open; PostgreSQL releases it when
// that connection ends, also when the process dies. An SQLite database is
// protected by the lock on the data directory instead, and LockProcess
// returns a lock that holds nothing.
func LockProcess(ctx context.Context, dsn string) (*ProcessLock, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return &ProcessLock{}, nil
	}
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres lock connection: %w", err)
	}
	// One connection, never recycled: the lock lives as long as it does.
	pool.SetMaxOpenConns(1)
	pool.SetMaxIdleConns(1)
	pool.SetConnMaxLifetime(0)
	pool.SetConnMaxIdleTime(0)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	var ok bool
	var schema string
	err = pool.QueryRowContext(ctx,
		`SELECT pg_try_advisory_lock(hashtext('hafen'), hashtext(current_schema())), current_schema()`).Scan(&ok, &schema)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("take postgres advisory lock: %w", err)
	}
	if !ok {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL schema %s is %w", schema, ErrDatabaseInUse)
	}
	return &ProcessLock{db: pool}, nil
}

// Release gives the lock up: it unlocks explicitly, then closes the
// connection. PostgreSQL drops a session's locks only once the session's
// backend has exited, which may be after the client closed the
// connection, so without the unlock a server started right after this one
// could still find the schema taken.
func (l *ProcessLock) Release() error {
	if l == nil || l.db == nil {
		return nil
	}
	// Release runs on the shutdown path, which has no request context; the
	// unlock gets a few seconds and the close follows either way.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, uerr := l.db.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtext('hafen'), hashtext(current_schema()))`)
	err := l.db.Close()
	l.db = nil
	if uerr != nil {
		return fmt.Errorf("release postgres advisory lock: %w", uerr)
	}
	return err
}
