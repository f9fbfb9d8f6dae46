package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// txn_ids remembers the event each client transaction produced, so that a
// retried request returns the same event instead of sending it twice. The
// spec treats a request as a retry only when its path is the same, so a
// transaction is identified by the device and a scope naming the endpoint
// and path (for example "send:{roomId}:{eventType}") as well as the
// transaction ID: the same txnId on another path is a new request.
//
// The first schema had no scope; migration 5 (txnIDsScopeMigration) moves
// its rows over with the scope of /send they had.
const txnIDsSchema = `
CREATE TABLE txn_ids (
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	txn_id     TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX txn_ids_created ON txn_ids (created_ts)`

// txnIDsScopeMigration rebuilds txn_ids with a scope in its key. Every row
// of the old table came from PUT /send (redactions sent through /redact
// included), so it gets the scope "send:{room}:{type}" of its event; a
// retry of such a /redact after the upgrade is taken as a new request,
// which redacts the same event again and changes nothing.
const txnIDsScopeMigration = `
CREATE TABLE txn_ids_scoped (
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	txn_id     TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, scope, txn_id)
);
INSERT INTO txn_ids_scoped (user_id, device_id, scope, txn_id, event_id, created_ts)
	SELECT t.user_id, t.device_id, 'send:' || e.room_id || ':' || e.type, t.txn_id, t.event_id, t.created_ts
	FROM txn_ids t JOIN events e ON e.event_id = t.event_id;
DROP TABLE txn_ids;
ALTER TABLE txn_ids_scoped RENAME TO txn_ids;
CREATE INDEX txn_ids_created ON txn_ids (created_ts)`

// txnIDsWithoutRowid rebuilds txn_ids on SQLite as a table that is its
// primary key (WITHOUT ROWID): every send adds a row, which then goes to
// two b-trees (the key and the created_ts index) instead of three.
// PostgreSQL keeps its table.
func txnIDsWithoutRowid(d dialect) []string {
	if d.name() != "sqlite" {
		return nil
	}
	return append(rebuildTable("txn_ids", `CREATE TABLE txn_ids_new (
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	txn_id     TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, scope, txn_id)
) WITHOUT ROWID`, "user_id, device_id, scope, txn_id, event_id, created_ts"),
		`CREATE INDEX txn_ids_created ON txn_ids (created_ts)`)
}

// TxnKey identifies a client transaction: the device that made it, the
// endpoint and path it was made on (Scope) and the client's transaction ID.
type TxnKey struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	Scope    string
	TxnID    string
}

func (k TxnKey) String() string {
	return fmt.Sprintf("%s of %s/%s on %s", k.TxnID, k.UserID, k.DeviceID, k.Scope)
}

// AddTxnID records that a transaction produced eventID. It fails with an
// error wrapping ErrExists if the transaction was recorded before. The
// statement may be queued (see Tx.execLater): the error may then come from
// the transaction's next statement or the end of the write function, and
// fails the write function either way.
func (t *Tx) AddTxnID(ctx context.Context, k TxnKey, eventID id.EventID, createdTS int64) error {
	return t.w.execLater(ctx, func(err error) error {
		if t.d.isUniqueViolation(err) {
			return fmt.Errorf("add transaction %s: %w", k, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add transaction %s: %w", k, err)
		}
		return nil
	}, `INSERT INTO txn_ids (user_id, device_id, scope, txn_id, event_id, created_ts) VALUES ($1, $2, $3, $4, $5, $6)`,
		string(k.UserID), string(k.DeviceID), k.Scope, k.TxnID, string(eventID), createdTS)
}

// TxnEventID returns the event a transaction produced, or an error wrapping
// ErrNotFound.
func (r reader) TxnEventID(ctx context.Context, k TxnKey) (id.EventID, error) {
	var eventID id.EventID
	err := r.q.QueryRowContext(ctx,
		`SELECT event_id FROM txn_ids WHERE user_id = $1 AND device_id = $2 AND scope = $3 AND txn_id = $4`,
		string(k.UserID), string(k.DeviceID), k.Scope, k.TxnID).Scan(&eventID)
	if err != nil {
		return "", fmt.Errorf("look up transaction %s: %w", k, notFound(err))
	}
	return eventID, nil
}

// DeleteTxnIDsBefore forgets transaction IDs recorded before ts
// (milliseconds) and returns how many it deleted.
func (t *Tx) DeleteTxnIDsBefore(ctx context.Context, ts int64) (int64, error) {
	res, err := t.q.ExecContext(ctx, `DELETE FROM txn_ids WHERE created_ts < $1`, ts)
	if err != nil {
		return 0, fmt.Errorf("expire transaction ids: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire transaction ids: %w", err)
	}
	return n, nil
}
