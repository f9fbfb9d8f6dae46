package store

import (
	"context"
	"errors"
	"testing"
)

func TestOwnSigningKeyHistory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if err := db.RecordOwnSigningKey(ctx, "ed25519:a", "AAAA", 1000); err != nil {
			t.Fatal(err)
		}
		// The same key again (a restart) changes nothing.
		if err := db.RecordOwnSigningKey(ctx, "ed25519:a", "AAAA", 2000); err != nil {
			t.Fatal(err)
		}
		// A new key expires the old one.
		if err := db.RecordOwnSigningKey(ctx, "ed25519:b", "BBBB", 3000); err != nil {
			t.Fatal(err)
		}
		got, err := db.OwnSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []OwnSigningKey{{"ed25519:a", "AAAA", 3000}, {"ed25519:b", "BBBB", 0}}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("OwnSigningKeys = %+v, want %+v", got, want)
		}
	})
}

func TestRemoteServerKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, err := db.ServerKeyResponse(ctx, "remote.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ServerKeyResponse(unknown) = %v, want ErrNotFound", err)
		}
		resp := KeyResponse{ServerName: "remote.example", JSON: []byte(`{"v":2}`), ValidUntilTS: 2000, FetchedTS: 100}
		keys := []RemoteServerKey{
			{ServerName: "remote.example", KeyID: "ed25519:new", PublicKey: "NEW", ValidUntilTS: 2000, FetchedTS: 100},
			{ServerName: "remote.example", KeyID: "ed25519:old", PublicKey: "OLD", ValidUntilTS: 0, ExpiredTS: 50, FetchedTS: 100},
		}
		if err := db.StoreServerKeys(ctx, resp, keys); err != nil {
			t.Fatal(err)
		}
		// An older response (a notary's stale copy) neither replaces the
		// stored response nor shortens a key's validity.
		stale := KeyResponse{ServerName: "remote.example", JSON: []byte(`{"v":1}`), ValidUntilTS: 1000, FetchedTS: 200}
		if err := db.StoreServerKeys(ctx, stale, []RemoteServerKey{
			{ServerName: "remote.example", KeyID: "ed25519:new", PublicKey: "NEW", ValidUntilTS: 1000, FetchedTS: 200},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := db.ServerKeyResponse(ctx, "remote.example")
		if err != nil || string(got.JSON) != `{"v":2}` || got.ValidUntilTS != 2000 {
			t.Errorf("ServerKeyResponse = %+v, %v; want the v2 response", got, err)
		}
		ks, err := db.ServerKeys(ctx, "remote.example")
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 2 || ks[0].KeyID != "ed25519:new" || ks[0].ValidUntilTS != 2000 || ks[1].ExpiredTS != 50 || ks[1].PublicKey != "OLD" {
			t.Errorf("ServerKeys = %+v", ks)
		}
		if other, err := db.ServerKeys(ctx, "other.example"); err != nil || len(other) != 0 {
			t.Errorf("ServerKeys(other) = %+v, %v; want none", other, err)
		}
	})
}
