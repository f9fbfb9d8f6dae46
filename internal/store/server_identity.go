package store

import (
	"context"
	"fmt"
)

// server_identity records who this database belongs to: the server name
// its user IDs and events carry, and the ID of the signing key its events
// are signed with. Each is written once, on the first start, and never
// changed: a server started on this database with another name would lock
// its users out (their logins resolve to other user IDs) while their old
// access tokens keep working.
const serverIdentitySchema = `
CREATE TABLE server_identity (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
)`

// ServerIdentity is what server_identity records; "" means not recorded.
type ServerIdentity struct {
	ServerName   string
	SigningKeyID string
}

// ServerIdentity returns the recorded identity of the server.
func (r reader) ServerIdentity(ctx context.Context) (ServerIdentity, error) {
	var out ServerIdentity
	err := r.scanRows(ctx, `SELECT name, value FROM server_identity`, nil, func(scan func(...any) error) error {
		var name, value string
		if err := scan(&name, &value); err != nil {
			return err
		}
		switch name {
		case "server_name":
			out.ServerName = value
		case "signing_key_id":
			out.SigningKeyID = value
		}
		return nil
	})
	if err != nil {
		return ServerIdentity{}, fmt.Errorf("read server identity: %w", err)
	}
	return out, nil
}

// RecordServerIdentity records the parts of id that are not recorded yet
// (empty fields are skipped). It never overwrites a recorded value.
func (db *DB) RecordServerIdentity(ctx context.Context, id ServerIdentity) error {
	return db.Write(ctx, func(tx *Tx) error {
		for _, kv := range [][2]string{{"server_name", id.ServerName}, {"signing_key_id", id.SigningKeyID}} {
			if kv[1] == "" {
				continue
			}
			if _, err := tx.q.ExecContext(ctx, `
				INSERT INTO server_identity (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO NOTHING`, kv[0], kv[1]); err != nil {
				return fmt.Errorf("record %s: %w", kv[0], err)
			}
		}
		return nil
	})
}
