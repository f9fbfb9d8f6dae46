package account

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// DeviceSeen writes a device's last seen time and address at most once
// per LastSeenInterval, whatever the address, and leaves devices that do
// not exist alone.
func TestDeviceSeen(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		now := time.UnixMilli(1_700_000_000_000)
		s := &Service{DB: db, Now: func() time.Time { return now }}
		const user, device = id.UserID("@alice:hafen.test"), id.DeviceID("PHONE")
		if err := s.CreateUser(ctx, user, "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDevice(ctx, user, device, "phone"); err != nil {
			t.Fatal(err)
		}
		check := func(what string, ip string, want time.Time, wantIP string) {
			t.Helper()
			if err := s.DeviceSeen(ctx, user, device, ip); err != nil {
				t.Fatal(err)
			}
			d, err := s.Device(ctx, user, device)
			if err != nil {
				t.Fatal(err)
			}
			if d.LastSeenTS != want.UnixMilli() || d.LastSeenIP != wantIP {
				t.Errorf("%s: last seen %d from %q, want %d from %q", what, d.LastSeenTS, d.LastSeenIP, want.UnixMilli(), wantIP)
			}
		}
		first := now
		check("first request", "192.0.2.1", first, "192.0.2.1")
		now = now.Add(time.Minute)
		check("a minute later", "192.0.2.1", first, "192.0.2.1")
		now = now.Add(time.Minute)
		check("from another address within the interval", "192.0.2.7", first, "192.0.2.1")
		now = first.Add(LastSeenInterval)
		check("an interval later", "192.0.2.7", now, "192.0.2.7")
		if err := s.DeviceSeen(ctx, user, "GONE", "192.0.2.1"); err != nil {
			t.Errorf("a device that does not exist: %v", err)
		}
	})
}
