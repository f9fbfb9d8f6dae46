package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// txn_ids remembers the event each client transaction ID produced, so that
// a retried PUT /send returns the same event instead of sending it twice.
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

// AddTxnID records that a device's transaction ID produced eventID. It
// fails with an error wrapping ErrExists if the transaction ID was used
// before. The statement may be queued (see Tx.execLater): the error may
// then come from the transaction's next statement or the end of the write
// function, and fails the write function either way.
func (t *Tx) AddTxnID(ctx context.Context, userID id.UserID, deviceID id.DeviceID, txnID string, eventID id.EventID, createdTS int64) error {
	return t.w.execLater(ctx, func(_ int64, err error) error {
		if t.d.isUniqueViolation(err) {
			return fmt.Errorf("add transaction %s of %s/%s: %w", txnID, userID, deviceID, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("add transaction %s of %s/%s: %w", txnID, userID, deviceID, err)
		}
		return nil
	}, `INSERT INTO txn_ids (user_id, device_id, txn_id, event_id, created_ts) VALUES ($1, $2, $3, $4, $5)`,
		string(userID), string(deviceID), txnID, string(eventID), createdTS)
}

// TxnEventID returns the event a transaction ID produced, or an error
// wrapping ErrNotFound.
func (r reader) TxnEventID(ctx context.Context, userID id.UserID, deviceID id.DeviceID, txnID string) (id.EventID, error) {
	var eventID id.EventID
	err := r.q.QueryRowContext(ctx,
		`SELECT event_id FROM txn_ids WHERE user_id = $1 AND device_id = $2 AND txn_id = $3`,
		string(userID), string(deviceID), txnID).Scan(&eventID)
	if err != nil {
		return "", fmt.Errorf("look up transaction %s of %s/%s: %w", txnID, userID, deviceID, notFound(err))
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
