package store

import (
	"context"
	"errors"
	"testing"
)

func TestServerIdentityIsRecordedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		got, err := db.ServerIdentity(ctx)
		if err != nil || got != (ServerIdentity{}) {
			t.Fatalf("fresh database: ServerIdentity = %+v, %v; want nothing recorded", got, err)
		}
		if err := db.RecordServerIdentity(ctx, ServerIdentity{ServerName: "a.example"}); err != nil {
			t.Fatal(err)
		}
		// A later record adds the key ID but never replaces the name.
		if err := db.RecordServerIdentity(ctx, ServerIdentity{ServerName: "b.example", SigningKeyID: "ed25519:k1"}); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordServerIdentity(ctx, ServerIdentity{SigningKeyID: "ed25519:k2"}); err != nil {
			t.Fatal(err)
		}
		got, err = db.ServerIdentity(ctx)
		if want := (ServerIdentity{ServerName: "a.example", SigningKeyID: "ed25519:k1"}); err != nil || got != want {
			t.Errorf("ServerIdentity = %+v, %v; want %+v", got, err, want)
		}
	})
}

func TestLockProcessRefusesSecondProcessOnPostgres(t *testing.T) {
	dsn := postgresTestDSN(t)
	ctx := context.Background()
	first, err := LockProcess(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockProcess(ctx, dsn); !errors.Is(err, ErrDatabaseInUse) {
		t.Fatalf("second LockProcess = %v, want ErrDatabaseInUse", err)
	}
	// Another schema of the same database is another server.
	other, err := LockProcess(ctx, postgresTestDSN(t))
	if err != nil {
		t.Fatalf("LockProcess on another schema: %v", err)
	}
	other.Release()
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := LockProcess(ctx, dsn)
	if err != nil {
		t.Fatalf("LockProcess after Release: %v", err)
	}
	again.Release()
}
