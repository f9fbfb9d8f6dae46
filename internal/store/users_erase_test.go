package store

import (
	"context"
	"errors"
	"testing"
)

// TestEraseUserData checks that erasing a user clears the profile and the
// sync filters and keeps the account row, and that a user without a row is
// no error.
func TestEraseUserData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write(t, db, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: alice, CreatedTS: 1, DisplayName: "Alice", AvatarURL: "mxc://hafen.test/a"})
		})
		write(t, db, func(tx *Tx) error {
			_, err := tx.AddFilter(ctx, alice, []byte(`{}`))
			return err
		})
		write(t, db, func(tx *Tx) error { return tx.EraseUserData(ctx, alice) })
		u, err := db.User(ctx, alice)
		if err != nil {
			t.Fatalf("User after erase: %v", err)
		}
		if u.DisplayName != "" || u.AvatarURL != "" {
			t.Errorf("profile after erase = %q, %q; want both empty", u.DisplayName, u.AvatarURL)
		}
		if _, err := db.Filter(ctx, alice, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Filter after erase: %v, want ErrNotFound", err)
		}
		write(t, db, func(tx *Tx) error { return tx.EraseUserData(ctx, "@nobody:hafen.test") })
	})
}
