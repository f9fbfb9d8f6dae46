package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

const alice = id.UserID("@alice:hafen.test")

func createAlice(t *testing.T, db *DB) {
	t.Helper()
	write(t, db, func(tx *Tx) error {
		return tx.CreateUser(context.Background(), User{UserID: alice, PasswordHash: "hash", CreatedTS: 10})
	})
}

func TestUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		createAlice(t, db)
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CreateUser(ctx, User{UserID: alice, CreatedTS: 11})
		}); !errors.Is(err, ErrExists) {
			t.Errorf("CreateUser twice = %v, want ErrExists", err)
		}
		if _, err := db.User(ctx, "@nobody:hafen.test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("User(unknown) = %v, want ErrNotFound", err)
		}
		write(t, db, func(tx *Tx) error {
			if err := tx.SetDisplayName(ctx, alice, "Alice"); err != nil {
				return err
			}
			if err := tx.SetAvatarURL(ctx, alice, "mxc://hafen.test/a"); err != nil {
				return err
			}
			if err := tx.SetAdmin(ctx, alice, true); err != nil {
				return err
			}
			return tx.SetPasswordHash(ctx, alice, "hash2")
		})
		want := User{UserID: alice, PasswordHash: "hash2", IsAdmin: true, CreatedTS: 10,
			DisplayName: "Alice", AvatarURL: "mxc://hafen.test/a"}
		if got, err := db.User(ctx, alice); err != nil || got != want {
			t.Errorf("User = %+v, %v; want %+v", got, err, want)
		}
		write(t, db, func(tx *Tx) error { return tx.SetDisplayName(ctx, alice, "") })
		if got, _ := db.User(ctx, alice); got.DisplayName != "" {
			t.Errorf("DisplayName after clearing = %q, want empty", got.DisplayName)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.SetDisplayName(ctx, "@nobody:hafen.test", "x")
		}); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetDisplayName(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func TestDevicesAndAccessTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		createAlice(t, db)
		write(t, db, func(tx *Tx) error {
			for _, d := range []Device{
				{UserID: alice, DeviceID: "PHONE", DisplayName: "phone", CreatedTS: 1},
				{UserID: alice, DeviceID: "LAPTOP", CreatedTS: 2},
			} {
				if err := tx.CreateDevice(ctx, d); err != nil {
					return err
				}
			}
			if err := tx.AddAccessToken(ctx, "syt_phone", alice, "PHONE", 3); err != nil {
				return err
			}
			return tx.AddAccessToken(ctx, "syt_laptop", alice, "LAPTOP", 4)
		})
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CreateDevice(ctx, Device{UserID: alice, DeviceID: "PHONE", CreatedTS: 5})
		}); !errors.Is(err, ErrExists) {
			t.Errorf("CreateDevice twice = %v, want ErrExists", err)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CreateDevice(ctx, Device{UserID: "@nobody:hafen.test", DeviceID: "X", CreatedTS: 5})
		}); err == nil {
			t.Errorf("CreateDevice for unknown user succeeded, want foreign key error")
		}

		devs, err := db.Devices(ctx, alice)
		if err != nil || len(devs) != 2 || devs[0].DeviceID != "LAPTOP" || devs[1].DisplayName != "phone" {
			t.Errorf("Devices = %+v, %v", devs, err)
		}
		write(t, db, func(tx *Tx) error {
			if err := tx.SetDeviceLastSeen(ctx, alice, "PHONE", 99, "192.0.2.1"); err != nil {
				return err
			}
			return tx.SetDeviceDisplayName(ctx, alice, "LAPTOP", "laptop")
		})
		d, err := db.Device(ctx, alice, "PHONE")
		if err != nil || d.LastSeenTS != 99 || d.LastSeenIP != "192.0.2.1" {
			t.Errorf("Device(PHONE) = %+v, %v", d, err)
		}
		if d, _ := db.Device(ctx, alice, "LAPTOP"); d.DisplayName != "laptop" {
			t.Errorf("LAPTOP display name = %q", d.DisplayName)
		}

		owner, err := db.AccessTokenOwner(ctx, "syt_phone")
		if err != nil || owner != (AccessToken{UserID: alice, DeviceID: "PHONE", CreatedTS: 3}) {
			t.Errorf("AccessTokenOwner = %+v, %v", owner, err)
		}
		if _, err := db.AccessTokenOwner(ctx, "syt_unknown"); !errors.Is(err, ErrNotFound) {
			t.Errorf("AccessTokenOwner(unknown) = %v, want ErrNotFound", err)
		}
		// Only the hash is stored.
		var stored []byte
		if err := db.q.QueryRowContext(ctx, `SELECT token_hash FROM access_tokens WHERE device_id = 'PHONE'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(stored, []byte("syt_phone")) || len(stored) != 32 {
			t.Errorf("stored token = %q, want a 32-byte hash", stored)
		}

		// Deleting a device deletes its tokens.
		write(t, db, func(tx *Tx) error { return tx.DeleteDevice(ctx, alice, "PHONE") })
		if _, err := db.AccessTokenOwner(ctx, "syt_phone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("token of deleted device: %v, want ErrNotFound", err)
		}
		if _, err := db.AccessTokenOwner(ctx, "syt_laptop"); err != nil {
			t.Errorf("token of other device: %v", err)
		}

		var deleted int64
		write(t, db, func(tx *Tx) error {
			var err error
			deleted, err = tx.DeleteAccessTokensExcept(ctx, alice, "")
			return err
		})
		if deleted != 1 {
			t.Errorf("DeleteAccessTokensExcept deleted %d, want 1", deleted)
		}

		write(t, db, func(tx *Tx) error { return tx.DeactivateUser(ctx, alice) })
		if u, _ := db.User(ctx, alice); !u.Deactivated || u.PasswordHash != "" {
			t.Errorf("after DeactivateUser: %+v", u)
		}
		if devs, _ := db.Devices(ctx, alice); len(devs) != 0 {
			t.Errorf("devices after DeactivateUser: %+v", devs)
		}
	})
}

func TestRegistrationTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		two, expiry := int64(2), int64(1000)
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateRegistrationToken(ctx, RegistrationToken{Token: "limited", UsesAllowed: &two}); err != nil {
				return err
			}
			return tx.CreateRegistrationToken(ctx, RegistrationToken{Token: "expiring", ExpiryTime: &expiry})
		})
		reserve := func(token string, now int64) bool {
			t.Helper()
			var ok bool
			write(t, db, func(tx *Tx) error {
				var err error
				ok, err = tx.ReserveRegistrationToken(ctx, token, now)
				return err
			})
			return ok
		}
		tests := []struct {
			name  string
			token string
			now   int64
			want  bool
		}{
			{"first use of two", "limited", 0, true},
			{"second use of two", "limited", 0, true},
			{"third use of two is refused", "limited", 0, false},
			{"before expiry", "expiring", 999, true},
			{"at expiry is refused", "expiring", 1000, false},
			{"unknown token is refused", "nope", 0, false},
		}
		for _, tc := range tests {
			if got := reserve(tc.token, tc.now); got != tc.want {
				t.Errorf("%s: Reserve(%s, %d) = %v, want %v", tc.name, tc.token, tc.now, got, tc.want)
			}
		}
		write(t, db, func(tx *Tx) error {
			if err := tx.CompleteRegistrationToken(ctx, "limited"); err != nil {
				return err
			}
			return tx.ReleaseRegistrationToken(ctx, "limited")
		})
		rt, err := db.RegistrationToken(ctx, "limited")
		if err != nil || rt.Pending != 0 || rt.Completed != 1 || !rt.Valid(0) {
			t.Errorf("after complete+release: %+v, %v; want pending 0, completed 1, valid", rt, err)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CompleteRegistrationToken(ctx, "limited")
		}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Complete without pending use = %v, want ErrNotFound", err)
		}
		all, err := db.RegistrationTokens(ctx)
		if err != nil || len(all) != 2 || all[0].Token != "expiring" || all[0].UsesAllowed != nil || *all[0].ExpiryTime != 1000 {
			t.Errorf("RegistrationTokens = %+v, %v", all, err)
		}
		write(t, db, func(tx *Tx) error { return tx.DeleteRegistrationToken(ctx, "expiring") })
		if _, err := db.RegistrationToken(ctx, "expiring"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted token: %v, want ErrNotFound", err)
		}
	})
}

func TestUIASessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateUIASession(ctx, UIASession{SessionID: "old", CreatedTS: 1, CompletedStages: []byte(`[]`), Params: []byte(`{}`)}); err != nil {
				return err
			}
			return tx.CreateUIASession(ctx, UIASession{SessionID: "new", CreatedTS: 100, CompletedStages: []byte(`[]`), Params: []byte(`{"a":1}`)})
		})
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.CreateUIASession(ctx, UIASession{SessionID: "new", CreatedTS: 101, CompletedStages: []byte(`[]`), Params: []byte(`{}`)})
		}); !errors.Is(err, ErrExists) {
			t.Errorf("CreateUIASession with a taken ID = %v, want ErrExists", err)
		}
		write(t, db, func(tx *Tx) error {
			return tx.SetUIACompletedStages(ctx, "new", []byte(`["m.login.dummy"]`))
		})
		s, err := db.UIASession(ctx, "new")
		if err != nil || string(s.CompletedStages) != `["m.login.dummy"]` || string(s.Params) != `{"a":1}` || s.CreatedTS != 100 {
			t.Errorf("UIASession = %+v, %v", s, err)
		}
		write(t, db, func(tx *Tx) error {
			return tx.UpdateUIASession(ctx, UIASession{SessionID: "new", CreatedTS: 5, CompletedStages: []byte(`["a","b"]`), Params: []byte(`{"b":2}`)})
		})
		s, err = db.UIASession(ctx, "new")
		if err != nil || string(s.CompletedStages) != `["a","b"]` || string(s.Params) != `{"b":2}` || s.CreatedTS != 100 {
			t.Errorf("UIASession after UpdateUIASession = %+v, %v", s, err)
		}
		for name, fn := range map[string]func(tx *Tx) error{
			"SetUIACompletedStages": func(tx *Tx) error { return tx.SetUIACompletedStages(ctx, "nope", []byte(`[]`)) },
			"UpdateUIASession": func(tx *Tx) error {
				return tx.UpdateUIASession(ctx, UIASession{SessionID: "nope", CompletedStages: []byte(`[]`), Params: []byte(`{}`)})
			},
		} {
			if err := db.Write(ctx, fn); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(unknown) = %v, want ErrNotFound", name, err)
			}
		}
		var n int64
		write(t, db, func(tx *Tx) error {
			var err error
			n, err = tx.DeleteUIASessionsBefore(ctx, 50, 10)
			return err
		})
		if n != 1 {
			t.Errorf("DeleteUIASessionsBefore deleted %d, want 1", n)
		}
		if _, err := db.UIASession(ctx, "old"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session: %v, want ErrNotFound", err)
		}
		for i, want := range []bool{true, false} {
			var deleted bool
			write(t, db, func(tx *Tx) error {
				var err error
				deleted, err = tx.DeleteUIASession(ctx, "new")
				return err
			})
			if deleted != want {
				t.Errorf("DeleteUIASession #%d = %v, want %v", i+1, deleted, want)
			}
		}
		if _, err := db.UIASession(ctx, "new"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted session: %v, want ErrNotFound", err)
		}
	})
}

func TestDeleteUIASessionsBeforeIsBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write(t, db, func(tx *Tx) error {
			for i := range 7 {
				s := UIASession{SessionID: fmt.Sprint("s", i), CreatedTS: int64(i), CompletedStages: []byte(`[]`), Params: []byte(`{}`)}
				if err := tx.CreateUIASession(ctx, s); err != nil {
					return err
				}
			}
			return nil
		})
		// Sessions s0…s5 are old; three rounds of at most 2 remove them all
		// and a fourth finds nothing, while s6 stays.
		for round, want := range []int64{2, 2, 2, 0} {
			var n int64
			write(t, db, func(tx *Tx) error {
				var err error
				n, err = tx.DeleteUIASessionsBefore(ctx, 6, 2)
				return err
			})
			if n != want {
				t.Errorf("round %d: DeleteUIASessionsBefore deleted %d, want %d", round+1, n, want)
			}
		}
		if got := countRows(t, db, "uia_sessions"); got != 1 {
			t.Errorf("sessions left = %d, want 1", got)
		}
		if _, err := db.UIASession(ctx, "s6"); err != nil {
			t.Errorf("UIASession(s6) = %v, want the session kept", err)
		}
	})
}

func TestFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		createAlice(t, db)
		bob := id.UserID("@bob:hafen.test")
		write(t, db, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: bob, CreatedTS: 1}) })
		var ids []int64
		write(t, db, func(tx *Tx) error {
			for _, u := range []id.UserID{alice, alice, bob, alice} {
				fid, err := tx.AddFilter(ctx, u, []byte(`{"user":"`+string(u)+`"}`))
				if err != nil {
					return err
				}
				ids = append(ids, fid)
			}
			return nil
		})
		if want := []int64{0, 1, 0, 2}; !slices.Equal(ids, want) {
			t.Errorf("filter IDs = %v, want %v (counted per user)", ids, want)
		}
		got, err := db.Filter(ctx, bob, 0)
		if err != nil || string(got) != `{"user":"@bob:hafen.test"}` {
			t.Errorf("Filter(bob, 0) = %s, %v", got, err)
		}
		if _, err := db.Filter(ctx, bob, 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Filter(bob, 1) = %v, want ErrNotFound", err)
		}
		if err := db.Write(ctx, func(tx *Tx) error {
			_, err := tx.AddFilter(ctx, "@nobody:hafen.test", []byte(`{}`))
			return err
		}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddFilter(unknown user) = %v, want ErrNotFound", err)
		}
	})
}

func TestTxnIDs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		phone := TxnKey{UserID: alice, DeviceID: "PHONE", Scope: "send:!a:hafen.test:m.room.message", TxnID: "t1"}
		write(t, db, func(tx *Tx) error { return tx.AddTxnID(ctx, phone, "$e1", 10) })
		if err := db.Write(ctx, func(tx *Tx) error {
			return tx.AddTxnID(ctx, phone, "$e2", 11)
		}); !errors.Is(err, ErrExists) {
			t.Errorf("AddTxnID twice = %v, want ErrExists", err)
		}
		// The same transaction ID from another device, or on another path,
		// is another transaction.
		laptop := phone
		laptop.DeviceID = "LAPTOP"
		write(t, db, func(tx *Tx) error { return tx.AddTxnID(ctx, laptop, "$e3", 100) })
		otherRoom := phone
		otherRoom.Scope = "send:!b:hafen.test:m.room.message"
		write(t, db, func(tx *Tx) error { return tx.AddTxnID(ctx, otherRoom, "$e4", 100) })
		for _, tc := range []struct {
			key  TxnKey
			want id.EventID
		}{{phone, "$e1"}, {laptop, "$e3"}, {otherRoom, "$e4"}} {
			if got, err := db.TxnEventID(ctx, tc.key); err != nil || got != tc.want {
				t.Errorf("TxnEventID(%s) = %s, %v; want %s", tc.key, got, err, tc.want)
			}
		}
		var n int64
		write(t, db, func(tx *Tx) error {
			var err error
			n, err = tx.DeleteTxnIDsBefore(ctx, 50)
			return err
		})
		if n != 1 {
			t.Errorf("DeleteTxnIDsBefore deleted %d, want 1", n)
		}
		if _, err := db.TxnEventID(ctx, phone); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired txn: %v, want ErrNotFound", err)
		}
	})
}
