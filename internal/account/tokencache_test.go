package account

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// A cached token must stop working the moment it is revoked (logout,
// device deletion, a new login on the same device, deactivation).
func TestTokenCacheFollowsRevocation(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s := &Service{DB: db}
		user := id.UserID("@alice:hafen.test")
		if err := s.CreateUser(ctx, user, "", false); err != nil {
			t.Fatal(err)
		}
		login := func(device id.DeviceID, token string) {
			t.Helper()
			if _, err := s.CreateDevice(ctx, user, device, ""); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateAccessToken(ctx, token, user, device); err != nil {
				t.Fatal(err)
			}
		}
		valid := func(token string) bool {
			t.Helper()
			_, _, err := s.AccessTokenOwner(ctx, token)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		steps := []struct {
			name   string
			revoke func()
			token  string
		}{
			{"logout (device deleted)", func() { _ = s.DeleteDevices(ctx, user, []id.DeviceID{"D1"}) }, "tok-1"},
			{"new login on the same device", func() { login("D2", "tok-2b") }, "tok-2"},
			{"logout everywhere", func() { _ = s.DeleteDevicesExcept(ctx, user, "") }, "tok-3"},
			{"new password, other devices logged out", func() { _ = s.SetPassword(ctx, user, "new-hash", true, "KEEP") }, "tok-4"},
			{"deactivation", func() { _ = s.DeactivateUser(ctx, user) }, "tok-5"},
		}
		for i, st := range steps {
			if st.token == "tok-4" {
				login("KEEP", "tok-keep")
			}
			login(id.DeviceID([]string{"D1", "D2", "D3", "D4", "D5"}[i]), st.token)
			if !valid(st.token) || !valid(st.token) { // the second call is served from the cache
				t.Fatalf("%s: fresh token not valid", st.name)
			}
			st.revoke()
			if valid(st.token) {
				t.Errorf("%s: revoked token still accepted", st.name)
			}
			if st.token == "tok-4" && !valid("tok-keep") {
				t.Errorf("%s: the kept device's token was revoked", st.name)
			}
		}
	})
}

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestTokenCacheSkipsAnswersRacingARevocation(t *testing.T) {
	var c tokenCache
	gen := c.generation()
	c.forgetUser("@alice:hafen.test") // a revocation while the lookup ran
	c.put("tok", "@alice:hafen.test", "D", testNow, gen, time.Time{})
	if _, ok := c.get("tok", testNow); ok {
		t.Error("an answer read before a revocation was cached")
	}
	c.put("tok", "@alice:hafen.test", "D", testNow, c.generation(), time.Time{})
	if _, ok := c.get("tok", testNow); !ok {
		t.Error("a current answer was not cached")
	}
	if _, ok := c.get("tok", testNow.Add(tokenTTL+1)); ok {
		t.Error("an expired entry was served")
	}
}

// TestTokenCacheDropsExpiredEntries checks that the cache does not keep
// every token ever used: a put drops the entries that expired, at most
// once per tokenTTL.
func TestTokenCacheDropsExpiredEntries(t *testing.T) {
	var c tokenCache
	start := time.Unix(1_000_000, 0)
	c.put("old", "@a:hafen.test", "A", start, c.generation(), time.Time{})
	c.put("recent", "@b:hafen.test", "B", start.Add(tokenTTL/2), c.generation(), time.Time{})
	if len(c.entries) != 2 {
		t.Fatalf("%d entries, want 2", len(c.entries))
	}
	c.put("new", "@c:hafen.test", "C", start.Add(tokenTTL+time.Second), c.generation(), time.Time{})
	if _, ok := c.entries[sha256.Sum256([]byte("old"))]; ok {
		t.Error("an expired entry was kept")
	}
	if len(c.entries) != 2 {
		t.Errorf("%d entries after the sweep, want 2 (recent, new)", len(c.entries))
	}
}
