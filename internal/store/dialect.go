package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// dialect holds exactly what differs between the two backends. Everything
// else is shared SQL with $1…$n placeholders.
type dialect interface {
	// name is the backend's name, for logs and errors.
	name() string
	// typeNames maps the type tokens schema statements may use
	// ({{bigserial_pk}}, {{bytes}}) to this backend's column types.
	typeNames() *strings.Replacer
	// createSequence returns the statement creating a named sequence, or ""
	// if the backend allocates such numbers another way.
	createSequence(name string) string
	// migrationLock returns a statement run first in the migration
	// transaction so that two processes never migrate at once, or "" if
	// beginning the transaction already excludes other writers.
	migrationLock() string
	// nextStreamPos allocates the next global stream position inside the
	// write transaction q.
	nextStreamPos(ctx context.Context, q querier) (int64, error)
	// nextStreamPosExpr is nextStreamPos as an SQL expression, for the
	// value list of an INSERT INTO events run in the write transaction.
	nextStreamPosExpr() string
	// backfillPosExpr allocates the position of an event that arrives as
	// history (backfill), as an SQL expression: below every position
	// handed out so far, negative, so that no stream reader after 0 ever
	// sees it (see streams.go).
	backfillPosExpr() string
	// streamPosPerRow reports whether nextStreamPosExpr draws a new
	// position for each row of one multi-row INSERT, in the order of its
	// VALUES list, so that several events can be inserted with one
	// statement.
	streamPosPerRow() bool
	// expandList rewrites query so that its parameter $n, written as
	// "= ANY($n)", takes the list vals ([]string or []int64). The list must
	// be the query's last parameter. args are the parameters before it.
	expandList(query string, n int, args []any, vals any) (string, []any, error)
	// isUniqueViolation reports whether err is a unique or primary key
	// violation of this backend.
	isUniqueViolation(err error) bool
	// isNotNullViolation reports whether err is a NOT NULL violation of
	// this backend.
	isNotNullViolation(err error) bool
	// maxParams is the most parameters one statement should carry; longer
	// lists and multi-row inserts are split into several statements.
	maxParams() int
	// rowParam returns the placeholder of parameter n (from 1) of a
	// multi-row insert whose parameters each appear once, in the order of
	// their numbers, and nowhere else in the statement.
	rowParam(n int) string
	// searchSchema returns the statements creating the full-text index
	// of event text, event_search.
	searchSchema() []string
	// searchInsert returns the statement that indexes the texts of
	// timeline events, split around its VALUES list of (event ID, text)
	// rows (see Tx.insertRows): it skips an event indexed already or
	// redacted. searchDelete removes an event's entry ($1 its NID).
	searchInsert() (prefix, suffix string)
	searchDelete() string
	// searchMatch returns, for a full-text query in parameter n, the
	// FROM item of the index, the expression of a match's event NID, the
	// condition that selects matches and the expression of their rank
	// (larger is better).
	searchMatch(n string) (from, nid, where, rank string)
	// searchQuery turns search terms (letters and digits only) into this
	// backend's full-text query: every term must match, as a prefix.
	searchQuery(terms []string) string
	// forUpdate is the suffix that locks the selected rows until the end of
	// the transaction, or "" where the writer already holds every lock.
	forUpdate() string
}

// Open opens the database named by dsn, applies pending migrations and
// starts the writer. dsn is a postgres:// or postgresql:// URL, or a SQLite
// file path, optionally prefixed with "sqlite:". The caller must Close the
// DB.
//
// Open lives with the dialects because choosing the backend from the DSN is
// part of the seam.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	return OpenWith(ctx, dsn, logger, Options{})
}

// Options are the settings of a database that its DSN does not carry. The
// zero value is the default of every setting.
type Options struct {
	// SQLiteSynchronous says when SQLite makes a commit durable (see
	// SQLiteSynchronous). Empty means SQLiteSyncFull. PostgreSQL ignores
	// it: its own fsync and synchronous_commit settings decide.
	SQLiteSynchronous SQLiteSynchronous
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, logger *slog.Logger, opts Options) (*DB, error) {
	if logger == nil {
		return nil, errors.New("open store: nil logger")
	}
	b, err := openBackend(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	logger = logger.With("backend", b.d.name())
	applied, err := migrate(ctx, b.write, b.d)
	if err != nil {
		return nil, errors.Join(err, b.close())
	}
	if applied > 0 {
		logger.Info("store migrated", "migrations", applied, "schema_version", schemaVersion())
	}
	derived, err := openDerived(ctx, b, opts, logger)
	if err != nil {
		return nil, errors.Join(err, b.close())
	}
	db := newDB(b, logger)
	db.derived = derived
	return db, nil
}

// newDB returns the DB of an opened, migrated backend and starts its
// writer.
func newDB(b *backend, logger *slog.Logger) *DB {
	db := &DB{
		reader:        reader{q: poolQuerier{pool: b.read, c: b.readStmts}, d: b.d},
		b:             b,
		logger:        logger,
		maxStateDelta: defaultMaxStateDelta,
	}
	db.w = startWriter(db)
	return db
}

// backend is an opened database: its dialect and its connection pools. read
// and write are the same pool where the backend has no single-writer rule
// (PostgreSQL, whose writer has a connection of its own).
type backend struct {
	d     dialect
	read  *sql.DB
	write *sql.DB
	// readStmts and writeStmts cache prepared statements per pool; nil
	// where the driver caches statements itself (pgx does).
	readStmts, writeStmts *stmtCache
	// beginWrite starts the writer's transaction: on the write pool, or
	// on a connection of the writer's own (closed by closeWriter).
	beginWrite  func(ctx context.Context) (writeTx, error)
	closeWriter func() error
	// pgWriter is the PostgreSQL writer's connection; nil on SQLite.
	pgWriter *pgWriter
	// sqlitePath is the file of a SQLite database; empty on PostgreSQL.
	sqlitePath string
}

// openBackend chooses the backend from the DSN and opens its pools. A
// postgres:// or postgresql:// URL selects PostgreSQL; anything else is a
// SQLite file path, optionally prefixed with "sqlite:".
func openBackend(ctx context.Context, dsn string, opts Options) (*backend, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		return openSQLiteFile(ctx, strings.TrimPrefix(dsn, "sqlite:"), opts.SQLiteSynchronous, "")
	}
}

// IsUniqueViolation reports whether err, from either backend, is a unique or
// primary key violation.
func IsUniqueViolation(err error) bool {
	return sqliteUniqueViolation(err) || postgresUniqueViolation(err)
}

// anyList returns the expression for parameter $n written as "= ANY($n)" in
// shared SQL.
func anyList(n int) string { return "= ANY($" + strconv.Itoa(n) + ")" }

// listValues flattens a []string or []int64 into driver arguments.
func listValues(vals any) ([]any, error) {
	switch v := vals.(type) {
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out, nil
	case []int64:
		out := make([]any, len(v))
		for i, n := range v {
			out[i] = n
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported list parameter type %T", vals)
	}
}

// renderSchema substitutes the dialect's type names into a schema statement.
func renderSchema(d dialect, stmt string) (string, error) {
	out := d.typeNames().Replace(stmt)
	if strings.Contains(out, "{{") {
		return "", fmt.Errorf("unknown type token in schema statement %q", firstLine(stmt))
	}
	return out, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
