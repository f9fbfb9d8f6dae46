package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// The derived database holds what durable consumers of the event stream
// derive from the committed events, with their stream positions: the
// full-text search index (search.Indexer) and users' notifications
// (push.Notifier). Only those consumers write it,
// each batch in one transaction with its position, and it can be rebuilt
// from the events: a consumer without a stored position starts from the
// beginning of the stream.
//
// On SQLite it is a file of its own beside the main one (hafen.db →
// hafen-derived.db), with its own writer: SQLite has one write lock per
// file, so the consumers' commits never queue in front of the event
// path's, nor it in front of theirs. Its connections attach the main file
// read-only in spirit (nothing writes it through them), so its statements
// read the events table as if it were one database: unqualified names
// resolve to the derived file's tables first, then to the main file's.
// Its transactions begin DEFERRED: an IMMEDIATE one would take the write
// lock of every attached file, the main one too.
//
// On PostgreSQL the derived tables live in the main database, and Derived
// returns the database itself: PostgreSQL has no single write lock.

// derivedAttachName is the schema name under which a derived SQLite
// database's connections attach the main file.
const derivedAttachName = "main_db"

// Derived returns the database of derived data (see above): a second
// database on SQLite, db itself on PostgreSQL. Close closes it with db.
func (db *DB) Derived() *DB {
	if db.derived != nil {
		return db.derived
	}
	return db
}

// derivedSQLitePath returns the path of the derived database of the
// SQLite file at path: the name with "-derived" before its extension.
func derivedSQLitePath(path string) string {
	ext := filepath.Ext(path)
	if ext == "" || strings.ContainsRune(ext, filepath.Separator) {
		return path + "-derived"
	}
	return strings.TrimSuffix(path, ext) + "-derived" + ext
}

// openDerived opens and migrates the derived database of b, if its
// backend keeps one apart, and returns nil otherwise.
func openDerived(ctx context.Context, b *backend, opts Options, logger *slog.Logger) (*DB, error) {
	if b.sqlitePath == "" {
		return nil, nil
	}
	path := derivedSQLitePath(b.sqlitePath)
	db, err := openSQLiteFile(ctx, path, opts.SQLiteSynchronous, b.sqlitePath)
	if err != nil {
		return nil, fmt.Errorf("open derived database: %w", err)
	}
	applied, err := migrateList(ctx, db.write, db.d, derivedMigrations)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("migrate derived database %s: %w", path, err), db.close())
	}
	if err := moveNotificationsIn(ctx, db, b); err != nil {
		return nil, errors.Join(err, db.close())
	}
	if err := reconcileDerived(ctx, db); err != nil {
		return nil, errors.Join(err, db.close())
	}
	logger = logger.With("database", "derived")
	if applied > 0 {
		logger.Info("store migrated", "migrations", applied, "schema_version", derivedMigrations[len(derivedMigrations)-1].version)
	}
	return newDB(db, logger), nil
}

// derivedMigrations is the schema history of a derived SQLite database
// (the main database's migrations create the same tables on PostgreSQL).
// Append only, like migrations.
var derivedMigrations = []migration{
	{
		version:    1,
		name:       "consumer positions and full-text search",
		statements: []string{streamConsumersSchema},
		byDialect:  func(d dialect) []string { return d.searchSchema() },
	},
	{
		version:   2,
		name:      "notifications",
		byDialect: userNotificationsTable,
	},
}

// NotificationsConsumer is the name of the push notifier's stream
// position.
const NotificationsConsumer = "push"

// moveNotificationsIn moves the notifications and the push notifier's
// position that a SQLite database kept in its main file before the
// derived one existed (and that the main database's migrations create)
// into the derived database: first copied in one transaction of the
// derived database, then dropped from the main one, so a crash between
// the two copies them again and loses nothing.
func moveNotificationsIn(ctx context.Context, derived, main *backend) error {
	var n int
	err := derived.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+derivedAttachName+`.sqlite_master
		WHERE type = 'table' AND name = 'user_notifications'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("look for notifications to move: %w", err)
	}
	if n == 0 {
		return nil
	}
	err = execInTx(ctx, derived.write, "move notifications", []string{
		`INSERT INTO user_notifications (user_id, stream_pos, actions, highlight)
			SELECT user_id, stream_pos, actions, highlight FROM ` + derivedAttachName + `.user_notifications
			WHERE true ON CONFLICT (user_id, stream_pos) DO NOTHING`,
		`INSERT INTO stream_consumers (name, stream_pos)
			SELECT name, stream_pos FROM ` + derivedAttachName + `.stream_consumers WHERE name = '` + NotificationsConsumer + `'
			ON CONFLICT (name) DO NOTHING`,
	})
	if err != nil {
		return err
	}
	return execInTx(ctx, main.write, "drop moved notifications", []string{
		`DROP TABLE user_notifications`,
		`DELETE FROM stream_consumers WHERE name = '` + NotificationsConsumer + `'`,
	})
}

// execInTx runs statements in one transaction of pool; what names the
// step in errors.
func execInTx(ctx context.Context, pool *sql.DB, what string, stmts []string) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %q: %w", what, firstLine(stmt), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

// moveSearchIndexOut returns the statements of the main database's
// migration that moved the search index into the derived database: on
// SQLite the old index and its position go (the indexer builds the new
// one from the start of the stream); on PostgreSQL nothing moves.
func moveSearchIndexOut(d dialect) []string {
	if d.name() != "sqlite" {
		return nil
	}
	return []string{
		`DROP TABLE IF EXISTS event_search`,
		`DELETE FROM stream_consumers WHERE name = '` + SearchIndexConsumer + `'`,
	}
}

// reconcileDerived drops what the derived database holds of events the
// main database does not: with sqlite_synchronous normal, a power loss
// may take the last commits of each file, and the derived file may have
// kept some that came after the main file's last. Stream positions and
// NIDs are handed out again as MAX+1, so a position or index entry left
// beyond the main file's end would stand for events sent later: the
// consumers' positions go back to it, and notifications and index
// entries past it go.
func reconcileDerived(ctx context.Context, derived *backend) error {
	const maxPos = `(SELECT COALESCE(MAX(stream_pos), 0) FROM ` + derivedAttachName + `.events)`
	return execInTx(ctx, derived.write, "reconcile derived database", []string{
		`UPDATE stream_consumers SET stream_pos = ` + maxPos + ` WHERE stream_pos > ` + maxPos,
		`DELETE FROM user_notifications WHERE stream_pos > ` + maxPos,
		`DELETE FROM event_search WHERE rowid > (SELECT COALESCE(MAX(event_nid), 0) FROM ` + derivedAttachName + `.events)`,
	})
}
