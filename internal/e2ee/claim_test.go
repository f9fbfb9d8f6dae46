package e2ee

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

func openStore(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testDevice is a client device holding its private ed25519 key.
type testDevice struct {
	user   id.UserID
	device id.DeviceID
	priv   ed25519.PrivateKey
	next   int
}

// newDevice creates the user and device in db.
func newDevice(tb testing.TB, db *store.DB, user id.UserID, device id.DeviceID) *testDevice {
	tb.Helper()
	ctx := context.Background()
	err := db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(ctx, store.User{UserID: user}); err != nil {
			return err
		}
		return tx.CreateDevice(ctx, store.Device{UserID: user, DeviceID: device})
	})
	if err != nil {
		tb.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &testDevice{user: user, device: device, priv: priv}
}

func (d *testDevice) sign(tb testing.TB, obj map[string]any) json.RawMessage {
	tb.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		tb.Fatal(err)
	}
	signed, err := signing.SignJSON(raw, signing.Key{ServerName: id.ServerName(d.user), KeyID: signing.KeyID("ed25519:" + string(d.device)), Private: d.priv})
	if err != nil {
		tb.Fatal(err)
	}
	return signed
}

func randomKey(tb testing.TB) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return signing.EncodeBase64(b[:])
}

func (d *testDevice) deviceKeys(tb testing.TB) json.RawMessage {
	return d.sign(tb, map[string]any{
		"user_id": string(d.user), "device_id": string(d.device),
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys": map[string]any{
			"ed25519:" + string(d.device):    signing.EncodeBase64(d.priv.Public().(ed25519.PublicKey)),
			"curve25519:" + string(d.device): randomKey(tb),
		},
	})
}

// uploadOTKs uploads n signed one-time keys (and the device keys first).
func (d *testDevice) uploadOTKs(tb testing.TB, s *Service, n int, fallback bool) {
	tb.Helper()
	ctx := context.Background()
	up := Upload{DeviceKeys: d.deviceKeys(tb)}
	if fallback {
		up.FallbackKeys = map[string]json.RawMessage{"signed_curve25519:FB": d.sign(tb, map[string]any{"key": randomKey(tb), "fallback": true})}
	}
	for n > 0 {
		up.OneTimeKeys = map[string]json.RawMessage{}
		for i := 0; i < 100 && n > 0; i, n = i+1, n-1 {
			d.next++
			up.OneTimeKeys[fmt.Sprintf("signed_curve25519:%06d", d.next)] = d.sign(tb, map[string]any{"key": randomKey(tb)})
		}
		if _, err := s.UploadKeys(ctx, d.user, d.device, up); err != nil {
			tb.Fatal(err)
		}
	}
	if len(up.OneTimeKeys) == 0 {
		if _, err := s.UploadKeys(ctx, d.user, d.device, up); err != nil {
			tb.Fatal(err)
		}
	}
}

// claimOne claims one signed_curve25519 key of d and returns its ID ("" if
// none).
func claimOne(ctx context.Context, s *Service, d *testDevice) (string, error) {
	res, err := s.ClaimKeys(ctx, map[id.UserID]map[id.DeviceID]string{d.user: {d.device: algSignedCurve25519}})
	if err != nil {
		return "", err
	}
	for k := range res.OneTimeKeys[d.user][d.device] {
		return k, nil
	}
	return "", nil
}

// TestClaimConcurrent follows POST /keys/claim: a one-time key is handed
// out once only. 50 claimers on two stores over the same database (as two
// server processes would be) race for 200 keys: every key is handed out
// exactly once, then only the fallback key.
func TestClaimConcurrent(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db1 := openStore(t, dsn)
		db2 := openStore(t, dsn)
		s1 := &Service{DB: db1, ServerName: "hafen.test"}
		s2 := &Service{DB: db2, ServerName: "hafen.test"}
		d := newDevice(t, db1, "@alice:hafen.test", "ALICE")
		const keys, claimers = 200, 50
		d.uploadOTKs(t, s1, keys, true)

		ctx := context.Background()
		var mu sync.Mutex
		got := map[string]int{}
		fallbacks := 0
		var wg sync.WaitGroup
		errs := make(chan error, claimers)
		for i := range claimers {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k, err := claimOne(ctx, s, d)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if k == "signed_curve25519:FB" {
						fallbacks++
						mu.Unlock()
						return
					}
					got[k]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("claim: %v", err)
		}
		if len(got) != keys {
			t.Errorf("%d distinct keys handed out, want %d", len(got), keys)
		}
		for k, n := range got {
			if n != 1 {
				t.Errorf("key %s handed out %d times, want once", k, n)
			}
		}
		if fallbacks != claimers {
			t.Errorf("%d claimers got the fallback key at the end, want %d", fallbacks, claimers)
		}
	})
}

// TestFallbackKeyUnusedUntilClaimed follows "Fallback keys": a fallback
// key is reported unused until first handed out, stays usable after, and
// a new fallback key is unused again; re-uploading the same key keeps its
// state.
func TestFallbackKeyUnusedUntilClaimed(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openStore(t, dsn)
		s := &Service{DB: db, ServerName: "hafen.test"}
		d := newDevice(t, db, "@alice:hafen.test", "ALICE")
		unused := func() []string {
			t.Helper()
			types, err := s.UnusedFallbackKeyTypes(ctx, d.user, d.device)
			if err != nil {
				t.Fatal(err)
			}
			return types
		}
		if got := unused(); len(got) != 0 {
			t.Fatalf("unused fallback types before upload = %v, want none", got)
		}
		fb := d.sign(t, map[string]any{"key": randomKey(t), "fallback": true})
		up := Upload{DeviceKeys: d.deviceKeys(t), FallbackKeys: map[string]json.RawMessage{"signed_curve25519:F1": fb}}
		if _, err := s.UploadKeys(ctx, d.user, d.device, up); err != nil {
			t.Fatal(err)
		}
		if got := unused(); len(got) != 1 || got[0] != "signed_curve25519" {
			t.Fatalf("unused fallback types = %v, want [signed_curve25519]", got)
		}
		for range 2 {
			if k, err := claimOne(ctx, s, d); err != nil || k != "signed_curve25519:F1" {
				t.Fatalf("claim = %q, %v; want the fallback key", k, err)
			}
		}
		if got := unused(); len(got) != 0 {
			t.Fatalf("unused fallback types after a claim = %v, want none", got)
		}
		up.DeviceKeys = nil
		if _, err := s.UploadKeys(ctx, d.user, d.device, up); err != nil {
			t.Fatal(err)
		}
		if got := unused(); len(got) != 0 {
			t.Fatalf("re-uploading the used key made it unused: %v", got)
		}
		up.FallbackKeys = map[string]json.RawMessage{"signed_curve25519:F2": d.sign(t, map[string]any{"key": randomKey(t), "fallback": true})}
		if _, err := s.UploadKeys(ctx, d.user, d.device, up); err != nil {
			t.Fatal(err)
		}
		if got := unused(); len(got) != 1 {
			t.Fatalf("a new fallback key is not unused: %v", got)
		}
	})
}

// BenchmarkClaimKeys measures /keys/claim's service with 50 concurrent
// claimers taking one-time keys of one device (SQLite, and PostgreSQL
// when configured).
func BenchmarkClaimKeys(b *testing.B) {
	dsns := map[string]func(testing.TB) string{"sqlite": storetest.SQLiteDSN}
	if os.Getenv(storetest.PostgresDSNEnv) != "" {
		dsns["postgres"] = storetest.PostgresDSN
	}
	for name, dsn := range dsns {
		b.Run(name, func(b *testing.B) {
			db := openStore(b, dsn(b))
			s := &Service{DB: db, ServerName: "hafen.test"}
			d := newDevice(b, db, "@alice:hafen.test", "ALICE")
			d.uploadOTKs(b, s, b.N, false)
			ctx := context.Background()
			var left atomic.Int64
			left.Store(int64(b.N))
			var dup atomic.Int64
			var seen sync.Map
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for left.Add(-1) >= 0 {
						k, err := claimOne(ctx, s, d)
						if err != nil || k == "" {
							b.Errorf("claim = %q, %v", k, err)
							return
						}
						if _, loaded := seen.LoadOrStore(k, true); loaded {
							dup.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if dup.Load() != 0 {
				b.Fatalf("%d keys handed out twice", dup.Load())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}
