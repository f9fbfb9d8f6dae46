// Package store is Hafen's storage layer: one schema, one set of SQL
// statements and one API over database/sql, for the embedded SQLite backend
// (the default) and for PostgreSQL.
//
// The package owns the schema, its migrations and every SQL statement Hafen
// runs. It must not know Matrix rules: it stores events as the bytes it is
// given, state as maps from (type, state_key) to event NIDs, and leaves
// validation, authorization and state resolution to its callers.
//
// # Backends
//
// [Open] takes a DSN, either a PostgreSQL URL or a SQLite file path, and
// picks the backend from it. The SQL is written once with $1…$n
// placeholders; the few differences between the backends (column types,
// list parameters, unique violations, write serialization, row locks,
// sequences, statement sizes) live behind the dialect seam: dialect.go and
// one file per backend.
//
// # Reads and writes
//
// Reads are methods on [DB] and go straight to the connection pool. Every
// write goes through [DB.Write], which hands a function to the single
// writer. The writer runs the queued functions of many callers in one
// transaction, each under its own savepoint, and commits once (group
// commit): a function that fails is rolled back to its savepoint and gets
// its own error, the others commit. A caller that finds the writer idle
// runs its transaction on its own goroutine. On PostgreSQL the writer
// pipelines: statements that return nothing but their error are sent
// together with the next statement or the commit (see writeTx). Read
// methods are also available on [Tx], where they see the transaction's own
// uncommitted writes.
//
//	err := db.Write(ctx, func(tx *store.Tx) error {
//		nid, pos, err := tx.InsertEvent(ctx, rec)
//		if err != nil {
//			return err
//		}
//		return tx.SetEventState(ctx, nid, groupBefore)
//	})
//
// # State
//
// Room state is stored as state groups: a group holds only its delta
// against its previous group, and a full snapshot is written whenever the
// delta chain would grow past a bound, so a room with a large state never
// copies that state for each event. See state_groups.go.
//
// # Stream positions
//
// Every event that reaches a room's timeline gets a global stream position,
// allocated inside the write transaction. See streams.go.
package store
