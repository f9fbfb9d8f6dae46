package store

import (
	"context"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestEraseUserData checks that erasing a user clears the profile, the
// sync filters and the account data (global and per room) and keeps the
// account row and other users' data, and that a user without a row is no
// error.
func TestEraseUserData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const bob = id.UserID("@bob:hafen.test")
		write(t, db, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: alice, CreatedTS: 1, DisplayName: "Alice", AvatarURL: "mxc://hafen.test/a"})
		})
		write(t, db, func(tx *Tx) error {
			_, err := tx.AddFilter(ctx, alice, []byte(`{}`))
			return err
		})
		data := []struct {
			user id.UserID
			room id.RoomID
			typ  string
		}{
			{alice, "", "m.direct"},
			{alice, "!r:hafen.test", "m.tag"},
			{bob, "", "m.direct"},
		}
		write(t, db, func(tx *Tx) error {
			for _, d := range data {
				if _, err := tx.SetAccountData(ctx, d.user, d.room, d.typ, []byte(`{"k":1}`)); err != nil {
					return err
				}
			}
			return nil
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
		if left, err := db.AccountDataSince(ctx, alice, 0); err != nil || len(left) != 0 {
			t.Errorf("account data after erase = %+v, %v; want none", left, err)
		}
		for _, d := range data {
			got, err := db.AccountDataOf(ctx, d.user, d.room, d.typ)
			switch {
			case d.user == alice && !errors.Is(err, ErrNotFound):
				t.Errorf("%s in %q after erase = %s, %v; want ErrNotFound", d.typ, d.room, got, err)
			case d.user != alice && (err != nil || string(got) != `{"k":1}`):
				t.Errorf("%s of %s after erase = %s, %v; want it kept", d.typ, d.user, got, err)
			}
		}
		write(t, db, func(tx *Tx) error { return tx.EraseUserData(ctx, "@nobody:hafen.test") })
	})
}

// TestDeleteAccountDataKeepsStreamPosition checks that deleting the
// account data that held the stream's newest position does not lower it:
// the next change gets a position after every one handed out before, and
// the deleted data is not found again.
func TestDeleteAccountDataKeepsStreamPosition(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const bob = id.UserID("@bob:hafen.test")
		set := func(user id.UserID, typ string) int64 {
			t.Helper()
			var pos int64
			write(t, db, func(tx *Tx) error {
				var err error
				pos, err = tx.SetAccountData(ctx, user, "", typ, []byte(`{}`))
				return err
			})
			return pos
		}
		set(bob, "m.a")
		top := set(alice, "m.b")
		write(t, db, func(tx *Tx) error { return tx.DeleteAccountData(ctx, alice) })
		if got, err := db.MaxAccountDataPos(ctx); err != nil || got != top {
			t.Errorf("newest position after delete = %d, %v; want %d", got, err, top)
		}
		if next := set(bob, "m.c"); next <= top {
			t.Errorf("position after delete = %d, want more than %d", next, top)
		}
		// Once more, with the position kept by the row of no user.
		top = set(alice, "m.d")
		write(t, db, func(tx *Tx) error { return tx.DeleteAccountData(ctx, alice) })
		if next := set(bob, "m.e"); next <= top {
			t.Errorf("position after a second delete = %d, want more than %d", next, top)
		}
		if left, err := db.AccountDataSince(ctx, alice, 0); err != nil || len(left) != 0 {
			t.Errorf("account data after delete = %+v, %v; want none", left, err)
		}
		if got, err := db.AccountDataSince(ctx, bob, 0); err != nil || len(got) != 3 {
			t.Errorf("bob's account data = %+v, %v; want 3 pieces", got, err)
		}
	})
}

// TestDeactivateRevokesOpenIDTokens checks that deactivation removes the
// account's OpenID tokens (and not its login tokens or other users'), and
// that a token stored for a deactivated account is never honoured.
func TestDeactivateRevokesOpenIDTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const bob = id.UserID("@bob:hafen.test")
		for _, u := range []id.UserID{alice, bob} {
			write(t, db, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: u, CreatedTS: 1}) })
		}
		write(t, db, func(tx *Tx) error {
			for _, tok := range []struct {
				kind, token string
				user        id.UserID
			}{
				{ShortTokenOpenID, "oid-alice", alice},
				{ShortTokenLogin, "login-alice", alice},
				{ShortTokenOpenID, "oid-bob", bob},
			} {
				if err := tx.AddShortToken(ctx, tok.kind, tok.token, tok.user, 100, 1); err != nil {
					return err
				}
			}
			return nil
		})
		write(t, db, func(tx *Tx) error { return tx.DeactivateUser(ctx, alice) })
		var openid int64
		if err := db.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM short_tokens WHERE user_id = $1 AND kind = $2`,
			string(alice), ShortTokenOpenID).Scan(&openid); err != nil {
			t.Fatal(err)
		}
		if openid != 0 || countRows(t, db, "short_tokens") != 2 {
			t.Errorf("short tokens after deactivation: %d OpenID tokens of alice, %d in all; want 0 and 2", openid, countRows(t, db, "short_tokens"))
		}
		if _, err := db.ShortTokenOwner(ctx, ShortTokenOpenID, "oid-alice", 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("alice's OpenID token after deactivation: %v, want ErrNotFound", err)
		}
		if u, err := db.ShortTokenOwner(ctx, ShortTokenOpenID, "oid-bob", 2); err != nil || u != bob {
			t.Errorf("bob's OpenID token = %s, %v", u, err)
		}
		// A token stored after the deactivation (a request that raced it).
		write(t, db, func(tx *Tx) error { return tx.AddShortToken(ctx, ShortTokenOpenID, "oid-late", alice, 100, 1) })
		if _, err := db.ShortTokenOwner(ctx, ShortTokenOpenID, "oid-late", 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenID token stored after deactivation: %v, want ErrNotFound", err)
		}
	})
}
