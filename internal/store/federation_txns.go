package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// federation_txns remembers the answer to each transaction another server
// sent to PUT /_matrix/federation/v1/send/{txnId}, so that a retry of the
// same origin and transaction ID gets the same answer and its PDUs are not
// processed twice.
const federationTxnsSchema = `
CREATE TABLE federation_txns (
	origin     TEXT NOT NULL,
	txn_id     TEXT NOT NULL,
	response   {{bytes}} NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_txns_created ON federation_txns (created_ts)`

// AddFederationTxn records the answer to a transaction of origin. A
// transaction recorded before keeps its first answer.
func (t *Tx) AddFederationTxn(ctx context.Context, origin id.ServerName, txnID string, response []byte, createdTS int64) error {
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO federation_txns (origin, txn_id, response, created_ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (origin, txn_id) DO NOTHING`,
		string(origin), txnID, response, createdTS)
	if err != nil {
		return fmt.Errorf("record transaction %s of %s: %w", txnID, origin, err)
	}
	return nil
}

// FederationTxn returns the recorded answer to a transaction of origin, or
// an error wrapping ErrNotFound.
func (r reader) FederationTxn(ctx context.Context, origin id.ServerName, txnID string) ([]byte, error) {
	var resp []byte
	err := r.q.QueryRowContext(ctx,
		`SELECT response FROM federation_txns WHERE origin = $1 AND txn_id = $2`, string(origin), txnID).Scan(&resp)
	if err != nil {
		return nil, fmt.Errorf("look up transaction %s of %s: %w", txnID, origin, notFound(err))
	}
	return resp, nil
}

// DeleteFederationTxnsBefore forgets the answers recorded before ts
// (milliseconds) and returns how many it deleted.
func (t *Tx) DeleteFederationTxnsBefore(ctx context.Context, ts int64) (int64, error) {
	res, err := t.q.ExecContext(ctx, `DELETE FROM federation_txns WHERE created_ts < $1`, ts)
	if err != nil {
		return 0, fmt.Errorf("expire federation transactions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire federation transactions: %w", err)
	}
	return n, nil
}
