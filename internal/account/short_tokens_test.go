package account_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// TestShortTokens: an OpenID token resolves until it expires; a login
// token is spent once, and not after it expired; neither kind stands for
// the other.
func TestShortTokens(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		var mu sync.Mutex
		now := time.UnixMilli(1_700_000_000_000)
		s := &account.Service{DB: db, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		ctx := t.Context()

		oid, life, err := s.CreateOpenIDToken(ctx, "@alice:hafen.test")
		if err != nil || life != account.OpenIDTokenLifetime {
			t.Fatalf("create OpenID token: %v, %s", err, life)
		}
		if u, err := s.OpenIDTokenOwner(ctx, oid); err != nil || u != "@alice:hafen.test" {
			t.Errorf("OpenID token owner = %s, %v", u, err)
		}
		if u, err := s.OpenIDTokenOwner(ctx, oid); err != nil || u != "@alice:hafen.test" {
			t.Errorf("an OpenID token is not spent by use: %s, %v", u, err)
		}
		if _, err := s.UseLoginToken(ctx, oid); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("an OpenID token used as a login token: %v", err)
		}
		login, err := s.CreateLoginToken(ctx, "@bob:hafen.test", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenIDTokenOwner(ctx, login); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("a login token resolved as an OpenID token: %v", err)
		}
		if u, err := s.UseLoginToken(ctx, login); err != nil || u != "@bob:hafen.test" {
			t.Errorf("use login token = %s, %v", u, err)
		}
		if _, err := s.UseLoginToken(ctx, login); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("a login token used twice: %v", err)
		}
		late, err := s.CreateLoginToken(ctx, "@bob:hafen.test", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		advance(account.OpenIDTokenLifetime + time.Second)
		if _, err := s.OpenIDTokenOwner(ctx, oid); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("an expired OpenID token resolved: %v", err)
		}
		if _, err := s.UseLoginToken(ctx, late); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("an expired login token was used: %v", err)
		}
	})
}
