package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeoutMS is how long a connection waits for a lock held by
// another connection (a reader during a checkpoint, or a second process)
// before it gives up with SQLITE_BUSY.
const sqliteBusyTimeoutMS = 10000

// The page cache of each SQLite connection is bounded, in KiB (the
// cache_size pragma, negative for KiB). The cache lives outside the Go
// heap (memory_limit does not see it), so SQLite's share of the resident
// memory is at most the writer's cache plus sqliteMaxReaders readers',
// plus the derived database's (see sqliteDerivedReaders).
// The writer keeps SQLite's default, which spares it re-reading the index
// pages every insert touches; readers take less, as the pages they miss
// come from the operating system's file cache, which they would otherwise
// duplicate.
const (
	sqliteWriteCacheKiB = 2000
	sqliteReadCacheKiB  = 512
)

// sqliteMaxReaders caps the read pool: beyond a few connections, reads
// wait on the disk and the single writer rather than on each other, and
// every connection holds a page cache and prepared statements of its
// own.
const sqliteMaxReaders = 8

// sqliteReaders is the size of the read pool on a machine with ncpu
// CPUs: one per CPU, at least 4, at most sqliteMaxReaders.
func sqliteReaders(ncpu int) int { return min(max(4, ncpu), sqliteMaxReaders) }

// A derived database (derived.go) is read by searches and /notifications
// only, so its read pool is small, and the main file its connections
// attach gets a small page cache of its own in each (the operating
// system's file cache holds the main file's pages already).
const (
	sqliteDerivedReaders   = 2
	sqliteAttachedCacheKiB = 256
)

type sqliteDialect struct{}

// SQLiteSynchronous is SQLite's synchronous setting for the write
// connection: when a commit reaches the disk.
type SQLiteSynchronous string

const (
	// SQLiteSyncFull syncs the write-ahead log at every commit: a write
	// that returned survives a power loss. The default.
	SQLiteSyncFull SQLiteSynchronous = "full"
	// SQLiteSyncNormal syncs only at checkpoints: commits are faster, and
	// a power loss (not a crash of Hafen alone) may lose the last commits,
	// but never corrupts the database.
	SQLiteSyncNormal SQLiteSynchronous = "normal"
)

// pragma returns the value of SQLite's synchronous pragma for s.
func (s SQLiteSynchronous) pragma() (string, error) {
	switch s {
	case "", SQLiteSyncFull:
		return "FULL", nil
	case SQLiteSyncNormal:
		return "NORMAL", nil
	default:
		return "", fmt.Errorf("sqlite synchronous %q is not one of full, normal", string(s))
	}
}

var sqliteTypes = strings.NewReplacer(
	// AUTOINCREMENT keeps a deleted row's NID from being handed out again,
	// which matters because NIDs are referenced from other tables.
	"{{bigserial_pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
	"{{bytes}}", "BLOB",
)

func (sqliteDialect) name() string                 { return "sqlite" }
func (sqliteDialect) typeNames() *strings.Replacer { return sqliteTypes }

// createSequence: SQLite has no sequences. Its numbers are allocated as
// MAX+1 by the single writer, which is gap-free.
func (sqliteDialect) createSequence(string) string { return "" }

// migrationLock: the write pool begins every transaction with BEGIN
// IMMEDIATE, which already takes the database's write lock.
func (sqliteDialect) migrationLock() string { return "" }

// nextStreamPos is MAX+1. This is safe because SQLite has exactly one
// writer (the writer goroutine on the single-connection write pool), and
// gap-free: a job rolled back to its savepoint takes its position with it.
// The unique index on stream_pos makes MAX a single index lookup.
func (sqliteDialect) nextStreamPos(ctx context.Context, q querier) (int64, error) {
	var pos int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM events`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("allocate stream position: %w", err)
	}
	return pos, nil
}

func (sqliteDialect) nextStreamPosExpr() string {
	return "(SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM events)"
}

// backfillPosExpr is MIN-1, below 0: the single writer makes it safe,
// like nextStreamPos.
func (sqliteDialect) backfillPosExpr() string {
	return "(SELECT MIN(COALESCE(MIN(stream_pos), 0), 0) - 1 FROM events)"
}

// streamPosPerRow is false: SQLite may evaluate the MAX+1 subquery once
// for a whole statement, and each insert is a local call anyway.
func (sqliteDialect) streamPosPerRow() bool { return false }

// expandList turns "= ANY($n)" into "IN ($n, $n+1, …)". SQLite has no
// array parameters.
func (sqliteDialect) expandList(query string, n int, args []any, vals any) (string, []any, error) {
	list, err := listValues(vals)
	if err != nil {
		return "", nil, err
	}
	marker := anyList(n)
	if !strings.Contains(query, marker) {
		return "", nil, fmt.Errorf("list parameter %q missing from query", marker)
	}
	var b strings.Builder
	b.WriteString("IN (")
	for i := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", n+i)
	}
	b.WriteString(")")
	return strings.Replace(query, marker, b.String(), 1), append(args, list...), nil
}

// maxParams is small because SQLite looks $n parameters up by name in a
// list, so a statement's parse and bind time grows with the square of its
// parameter count (10,000 four-column rows: 30 ms in statements of 100
// parameters, 190 ms in statements of 2,000). Statements are cheap here:
// there is no network round trip. Multi-row inserts use "?" (rowParam),
// which is not looked up; they too are fastest in statements of about 100
// parameters (10,000 four-column rows: 20 ms, against 25 ms in statements
// of 20, 23 ms in statements of 400 and 41 ms in statements of 4,000).
func (sqliteDialect) maxParams() int { return 100 }

// rowParam is SQLite's anonymous "?", which takes the next number and, not
// being named, is not looked up by name: binding a statement of such
// parameters costs time in proportion to their count, not its square.
func (sqliteDialect) rowParam(int) string { return "?" }

func (sqliteDialect) isUniqueViolation(err error) bool { return sqliteUniqueViolation(err) }

func (sqliteDialect) isNotNullViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_NOTNULL
}

// forUpdate: the single writer already holds the database's write lock for
// the whole transaction, and SQLite does not know FOR UPDATE.
func (sqliteDialect) forUpdate() string { return "" }

func sqliteUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// openSQLiteFile opens a SQLite file with two pools: a write pool of
// exactly one connection, whose transactions begin IMMEDIATE (SQLite has
// one writer, and taking the lock up front avoids deadlocked upgrades from
// read to write locks), and a read pool of several query-only connections,
// which WAL mode lets run alongside the writer.
//
// With attach set, every connection attaches that file (the main database
// of a derived one, see derived.go) and the writer's transactions begin
// DEFERRED, so that they take the write lock of the file they write only.
func openSQLiteFile(ctx context.Context, path string, sync SQLiteSynchronous, attach string) (*backend, error) {
	if path == "" {
		return nil, errors.New("empty sqlite database path")
	}
	syncPragma, err := sync.pragma()
	if err != nil {
		return nil, err
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		// The read and write pools must open the same file, and the driver
		// would read anything after "?" as its own options.
		return nil, fmt.Errorf("sqlite database %q: want a plain file path", path)
	}
	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeoutMS))
	common.Set("_foreign_keys", "1")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = v
	}
	wq.Set("_journal_mode", "WAL")
	wq.Add("_pragma", fmt.Sprintf("cache_size(-%d)", sqliteWriteCacheKiB))
	// A statement that writes several rows keeps a statement journal (the
	// pages it changed, to undo it alone on a constraint failure), which
	// SQLite moves from memory to a temporary file beyond 64 KiB: a
	// multi-row insert of a group commit would pay write system calls for
	// pages it already holds. The writer keeps its temporary data in
	// memory; it is bounded by what one statement changes.
	wq.Add("_pragma", "temp_store(memory)")
	// FULL syncs the write-ahead log at every commit, so a write that
	// returned is durable; NORMAL syncs at checkpoints only. Group commit
	// shares one sync among every write of a batch.
	wq.Set("_synchronous", syncPragma)
	wq.Set("_txlock", "immediate")
	if attach != "" {
		// Only the writer writes this file, so a deferred transaction
		// never meets a writer it would have to wait for.
		wq.Set("_txlock", "deferred")
	}
	write, err := openSQLitePool(path+"?"+wq.Encode(), attach)
	if err != nil {
		return nil, fmt.Errorf("open sqlite write pool %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL,
	// which is persistent, before any reader opens it.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}

	rq := url.Values{}
	for k, v := range common {
		rq[k] = v
	}
	rq.Set("_query_only", "1")
	rq.Add("_pragma", fmt.Sprintf("cache_size(-%d)", sqliteReadCacheKiB))
	read, err := openSQLitePool(path+"?"+rq.Encode(), attach)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite read pool %s: %w", path, err)
	}
	readers := sqliteReaders(runtime.NumCPU())
	if attach != "" {
		readers = sqliteDerivedReaders
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxLifetime(0)
	read.SetConnMaxIdleTime(0)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("open sqlite database %s for reading: %w", path, err)
	}
	b := &backend{d: sqliteDialect{}, read: read, write: write,
		readStmts: newStmtCache(read), writeStmts: newDeferredStmtCache(write), sqlitePath: path}
	b.beginWrite = func(ctx context.Context) (writeTx, error) { return beginSQLWrite(ctx, write, b.writeStmts) }
	return b, nil
}

// openSQLitePool returns a pool of connections to the SQLite DSN, each of
// which attaches the file attach (under derivedAttachName) when it is set.
func openSQLitePool(dsn, attach string) (*sql.DB, error) {
	if attach == "" {
		return sql.Open("sqlite", dsn)
	}
	// A driver of its own, so that the hook applies to these connections
	// only.
	drv := &sqlite.Driver{}
	drv.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		_, err := c.ExecContext(context.Background(), "ATTACH DATABASE ? AS "+derivedAttachName,
			[]driver.NamedValue{{Ordinal: 1, Value: attach}})
		if err != nil {
			return fmt.Errorf("attach %s: %w", attach, err)
		}
		// An attached file's page cache has SQLite's default size, not
		// the connection's.
		_, err = c.ExecContext(context.Background(),
			fmt.Sprintf("PRAGMA %s.cache_size = -%d", derivedAttachName, sqliteAttachedCacheKiB), nil)
		if err != nil {
			return fmt.Errorf("size the page cache of %s: %w", attach, err)
		}
		return nil
	})
	return sql.OpenDB(sqliteConnector{drv: drv, dsn: dsn}), nil
}

// sqliteConnector opens connections to one DSN with its driver.
type sqliteConnector struct {
	drv *sqlite.Driver
	dsn string
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c sqliteConnector) Driver() driver.Driver                        { return c.drv }
