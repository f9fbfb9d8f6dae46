package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// postgresMaxConns bounds the PostgreSQL read pool. The writer has a
// connection of its own.
const postgresMaxConns = 16

// postgresMigrationLockKey is the advisory lock key that serializes schema
// migrations between Hafen processes sharing one database ("hafen" in
// ASCII).
const postgresMigrationLockKey = 0x686166656e

type postgresDialect struct{}

var postgresTypes = strings.NewReplacer(
	"{{bigserial_pk}}", "BIGSERIAL PRIMARY KEY",
	"{{bytes}}", "BYTEA",
)

func (postgresDialect) name() string                 { return "postgres" }
func (postgresDialect) typeNames() *strings.Replacer { return postgresTypes }

func (postgresDialect) createSequence(name string) string {
	return "CREATE SEQUENCE IF NOT EXISTS " + name
}

// migrationLock takes a transaction-scoped advisory lock, so that several
// Hafen processes starting at once apply each migration exactly once. It
// works before schema_migrations exists.
func (postgresDialect) migrationLock() string {
	return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", postgresMigrationLockKey)
}

// nextStreamPos draws from a sequence. Sequences never hand out a number
// twice, so several Hafen processes writing to one database can allocate
// positions without colliding. Numbers drawn by rolled-back jobs are lost,
// so positions are strictly increasing but may have gaps.
func (postgresDialect) nextStreamPos(ctx context.Context, q querier) (int64, error) {
	var pos int64
	if err := q.QueryRowContext(ctx, `SELECT nextval('stream_pos_seq')`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("allocate stream position: %w", err)
	}
	return pos, nil
}

func (postgresDialect) nextStreamPosExpr() string { return "nextval('stream_pos_seq')" }

// backfillPosExpr draws from a sequence of its own, negated, so that
// several processes never collide.
func (postgresDialect) backfillPosExpr() string { return "-nextval('backfill_pos_seq')" }

// streamPosPerRow: nextval is called once per row, as the rows are
// inserted.
func (postgresDialect) streamPosPerRow() bool { return true }

// expandList passes the list as one array parameter; pgx encodes []string
// and []int64 as text[] and int8[].
func (postgresDialect) expandList(query string, n int, args []any, vals any) (string, []any, error) {
	switch vals.(type) {
	case []string, []int64:
	default:
		return "", nil, fmt.Errorf("unsupported list parameter type %T", vals)
	}
	if !strings.Contains(query, anyList(n)) {
		return "", nil, fmt.Errorf("list parameter %q missing from query", anyList(n))
	}
	return query, append(args, vals), nil
}

// maxParams trades statement size against round trips; PostgreSQL allows
// 65535 parameters.
func (postgresDialect) maxParams() int { return 2000 }

func (postgresDialect) rowParam(n int) string { return "$" + strconv.Itoa(n) }

func (postgresDialect) isUniqueViolation(err error) bool { return postgresUniqueViolation(err) }

// isNotNullViolation matches SQLSTATE 23502, not_null_violation.
func (postgresDialect) isNotNullViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23502"
}

func (postgresDialect) forUpdate() string { return " FOR UPDATE" }

// postgresUniqueViolation matches SQLSTATE 23505, unique_violation.
func postgresUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// openPostgres opens a pool for reads and migrations and the writer's own
// connection (see pgWriter), which the writer pipelines its transactions
// through.
func openPostgres(ctx context.Context, dsn string) (*backend, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	pool.SetMaxOpenConns(postgresMaxConns)
	pool.SetMaxIdleConns(postgresMaxConns)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	w := &pgWriter{dsn: dsn, idleCheck: pgWriterIdleCheck}
	if _, err := w.connect(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return &backend{d: postgresDialect{}, read: pool, write: pool, beginWrite: w.begin, closeWriter: w.close,
		pgWriter: w}, nil
}
