package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migration is one step of the schema, shared by both backends. Its
// statements may use the type tokens {{bigserial_pk}} and {{bytes}}, and an
// entry may hold several statements separated by ";" (so no ";" inside
// literals).
type migration struct {
	version    int
	name       string
	statements []string
	// sequences are created on backends that have sequences; see
	// dialect.createSequence.
	sequences []string
	// byDialect, when set, returns statements that differ between the
	// backends, run after statements.
	byDialect func(d dialect) []string
}

// migrations is the schema's history. Append only: never edit or reorder
// an entry once it has shipped, add a new one instead.
var migrations = []migration{
	{
		version: 1,
		name:    "initial schema",
		statements: []string{
			usersSchema,
			devicesSchema,
			accessTokensSchema,
			registrationTokensSchema,
			uiaSessionsSchema,
			filtersSchema,
			txnIDsSchema,
			roomsSchema,
			roomExtremitiesSchema,
			roomAliasesSchema,
			eventsSchema,
			stateGroupsSchema,
			eventStateSchema,
			currentStateSchema,
			membershipsSchema,
		},
		sequences: []string{"stream_pos_seq"},
	},
	{
		version:    2,
		name:       "forgotten rooms",
		statements: []string{forgottenRoomsSchema},
	},
	{
		version:    3,
		name:       "server identity",
		statements: []string{serverIdentitySchema},
	},
	{
		version:    4,
		name:       "room head generation and soft-failed events",
		statements: []string{roomsGenerationSchema, eventsSoftFailedSchema},
	},
	{
		version:    5,
		name:       "transaction ids scoped by endpoint and path",
		statements: []string{txnIDsScopeMigration},
	},
	{
		version:    6,
		name:       "topological order of room events",
		statements: []string{roomOrderIndex},
	},
	{
		version:    7,
		name:       "signing key history and remote server keys",
		statements: []string{ownSigningKeysSchema, remoteServerKeysSchema, remoteKeyResponsesSchema},
	},
	{
		version:    8,
		name:       "stream consumers",
		statements: []string{streamConsumersSchema},
	},
	{
		version:    9,
		name:       "answers to inbound federation transactions",
		statements: []string{federationTxnsSchema},
	},
	{
		version:    10,
		name:       "state event replaces",
		statements: []string{eventStateReplacesSchema},
	},
	{
		version: 11,
		name:    "end-to-end encryption keys",
		statements: []string{
			deviceKeysSchema,
			oneTimeKeysSchema,
			fallbackKeysSchema,
			crossSigningKeysSchema,
			keySignaturesSchema,
		},
	},
	{
		version:    12,
		name:       "key backups",
		statements: []string{keyBackupVersionsSchema, keyBackupKeysSchema},
	},
	{
		version:    13,
		name:       "to-device messages",
		statements: []string{toDeviceMessagesSchema, toDeviceTxnsSchema, toDevicePositionsSchema},
	},
	{
		version:    14,
		name:       "device list changes",
		statements: []string{deviceListChangesSchema},
	},
	{
		version:    15,
		name:       "federation send queues",
		statements: []string{federationQueueSchema},
	},
	{
		version:    16,
		name:       "media repository",
		statements: []string{mediaSchema},
	},
	{
		version:    17,
		name:       "account data",
		statements: []string{accountDataSchema},
	},
	{
		version:    18,
		name:       "receipts",
		statements: []string{receiptsSchema},
	},
	{
		version:    19,
		name:       "federation edus and remote device lists",
		statements: []string{federationEDUQueueSchema, deviceListChangesDeviceSchema, remoteDeviceListsSchema},
	},
	{
		version:    20,
		name:       "event relations",
		statements: []string{eventRelationsSchema},
	},
	{
		version:    21,
		name:       "media quarantine and cleanup",
		statements: []string{mediaCleanupSchema},
	},
	{
		version:   22,
		name:      "backfilled history positions",
		sequences: []string{"backfill_pos_seq"},
	},
	{
		version:    23,
		name:       "remote device lists checked position",
		statements: []string{remoteDeviceListsCheckedSchema},
	},
	{
		version:    24,
		name:       "invites to rooms of other servers",
		statements: []string{remoteInvitesSchema},
	},
	{
		version:   25,
		name:      "full-text search of event text",
		byDialect: func(d dialect) []string { return d.searchSchema() },
	},
	{
		version:    26,
		name:       "content reports and events by timestamp",
		statements: []string{reportsSchema, eventsTimestampIndex},
	},
	{
		version:    27,
		name:       "media legacy freeze",
		statements: []string{mediaLegacyFreezeSchema},
	},
	{
		version:    28,
		name:       "user directory",
		statements: []string{userDirectorySchema},
	},
	{
		version:    29,
		name:       "pushers and notifications",
		statements: []string{pushersSchema, notificationsSchema},
	},
	{
		version:    30,
		name:       "openid and login tokens",
		statements: []string{shortTokensSchema},
	},
	{
		version:    31,
		name:       "refresh tokens",
		statements: []string{accessTokensExpirySchema, refreshTokensSchema},
	},
	{
		version:    32,
		name:       "dehydrated devices",
		statements: []string{dehydratedDevicesSchema},
	},
	{
		version:    33,
		name:       "profile propagation and extended profile fields",
		statements: []string{profileUpdatesSchema, profileFieldsSchema},
	},
	{
		version:   34,
		name:      "notifications without their events' columns",
		byDialect: userNotificationsSchema,
	},
	{
		version:    35,
		name:       "one-time keys in upload order",
		statements: []string{oneTimeKeysUploadOrderSchema},
	},
	{
		version:    36,
		name:       "backward extremities",
		statements: []string{backwardExtremitiesSchema},
	},
	{
		version:    37,
		name:       "search index in the derived database",
		statements: []string{searchRemovalsSchema},
		byDialect:  moveSearchIndexOut,
	},
	{
		version:    38,
		name:       "fewer b-trees written per message",
		statements: []string{eventsMemberIndex},
		byDialect:  txnIDsWithoutRowid,
	},
	{
		version: 39,
		name:    "event state and extremities in one b-tree each",
		byDialect: func(d dialect) []string {
			return append(eventStateRowid(d), roomExtremitiesWithoutRowid(d)...)
		},
	},
	{
		version:    40,
		name:       "user directory rebuilt without per-room names",
		statements: []string{rebuildUserDirectory},
	},
	{
		version:    41,
		name:       "erased users",
		statements: []string{usersErasedSchema},
	},
	{
		version:    42,
		name:       "to-device transactions per event type",
		statements: toDeviceTxnsByType(),
	},
	{
		version:    43,
		name:       "events above a gap in their room's history",
		statements: []string{eventsGapBelowSchema},
	},
}

// rebuildTable returns the statements that give table a new definition
// and keep its rows: create makes the new table under the name
// table+"_new", and columns (a comma-separated list) are copied over. The
// old table's indexes go with it; the caller creates again those the new
// table needs.
func rebuildTable(table, create, columns string) []string {
	return []string{
		create,
		`INSERT INTO ` + table + `_new (` + columns + `) SELECT ` + columns + ` FROM ` + table,
		`DROP TABLE ` + table,
		`ALTER TABLE ` + table + `_new RENAME TO ` + table,
	}
}

const schemaMigrationsSchema = `
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_ts BIGINT NOT NULL
)`

// schemaVersion is the version the schema has after all migrations.
func schemaVersion() int {
	return migrations[len(migrations)-1].version
}

// migrate applies the pending migrations in one transaction and returns how
// many it applied. It refuses a database whose schema is newer than this
// code.
func migrate(ctx context.Context, pool *sql.DB, d dialect) (int, error) {
	return migrateList(ctx, pool, d, migrations)
}

// migrateList is migrate with the list of migrations ms (the main
// database's, or a derived database's; see derived.go).
func migrateList(ctx context.Context, pool *sql.DB, d dialect, ms []migration) (int, error) {
	if err := checkMigrations(ms); err != nil {
		return 0, err
	}
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin migration: %w", err)
	}
	// Rollback after Commit is a no-op; on the error paths it undoes
	// everything, so the schema is never half migrated.
	defer tx.Rollback()
	if lock := d.migrationLock(); lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return 0, fmt.Errorf("lock schema for migration: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, schemaMigrationsSchema); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if latest := ms[len(ms)-1].version; current > latest {
		return 0, fmt.Errorf("open database with schema version %d, know up to %d: %w", current, latest, ErrSchemaTooNew)
	}
	applied := 0
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		for _, seq := range m.sequences {
			if stmt := d.createSequence(seq); stmt != "" {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return 0, fmt.Errorf("migration %d (%s): create sequence %s: %w", m.version, m.name, seq, err)
				}
			}
		}
		statements := m.statements
		if m.byDialect != nil {
			statements = append(append([]string(nil), statements...), m.byDialect(d)...)
		}
		for _, s := range statements {
			rendered, err := renderSchema(d, s)
			if err != nil {
				return 0, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			// One entry may hold several statements (a table and its
			// indexes); each is run on its own.
			for _, stmt := range strings.Split(rendered, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return 0, fmt.Errorf("migration %d (%s): %q: %w", m.version, m.name, firstLine(stmt), err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_ts) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixMilli()); err != nil {
			return 0, fmt.Errorf("record migration %d: %w", m.version, err)
		}
		applied++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit migrations: %w", err)
	}
	return applied, nil
}

// checkMigrations verifies that versions run 1, 2, 3, … without gaps, so a
// mistake in the list fails every Open instead of skipping a step.
func checkMigrations(ms []migration) error {
	if len(ms) == 0 {
		return fmt.Errorf("no migrations")
	}
	for i, m := range ms {
		if m.version != i+1 {
			return fmt.Errorf("migration %q has version %d, want %d", m.name, m.version, i+1)
		}
	}
	return nil
}
