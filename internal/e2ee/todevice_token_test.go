package e2ee

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// A sync from before a device's acknowledged to-device messages (an
// initial sync, or an old token) gets none of them, and a token past
// them: a token left behind would report news at once to every later
// long poll, which would then answer at once, forever.
func TestToDeviceTokenPassesAcknowledged(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openStore(t, dsn)
		s := &Service{DB: db, ServerName: "hafen.test", Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
		alice := newDevice(t, db, "@alice:hafen.test", "ALICE")
		bob := newDevice(t, db, "@bob:hafen.test", "BOB")
		for _, txn := range []string{"t1", "t2"} {
			err := s.SendToDevice(ctx, bob.user, bob.device, txn, "org.example", map[id.UserID]map[id.DeviceID]json.RawMessage{alice.user: {alice.device: json.RawMessage(`{}`)}})
			if err != nil {
				t.Fatal(err)
			}
		}
		evs, next, err := s.ToDeviceForSync(ctx, alice.user, alice.device, 0)
		if err != nil || len(evs) != 2 {
			t.Fatalf("first sync: %d events, %v; want 2", len(evs), err)
		}
		// The next sync acknowledges them.
		if evs, _, err := s.ToDeviceForSync(ctx, alice.user, alice.device, next); err != nil || len(evs) != 0 {
			t.Fatalf("sync after them: %d events, %v; want none", len(evs), err)
		}
		for _, since := range []int64{0, 1} {
			evs, got, err := s.ToDeviceForSync(ctx, alice.user, alice.device, since)
			if err != nil || len(evs) != 0 || got != next {
				t.Errorf("sync from %d: %d events, next %d, %v; want none and next %d", since, len(evs), got, err, next)
			}
			if pending, err := s.HasToDevice(ctx, alice.user, alice.device, got); err != nil || pending {
				t.Errorf("news after the token %d: %v, %v; want none", got, pending, err)
			}
		}
	})
}

// TestToDeviceTxnPerEventType: a retransmission repeats the request's
// path, which holds the event type ("the path of the HTTP request is the
// same"): the same transaction ID with another event type is a new
// request, while a retry of either is not.
func TestToDeviceTxnPerEventType(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openStore(t, dsn)
		s := &Service{DB: db, ServerName: "hafen.test", Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
		alice := newDevice(t, db, "@alice:hafen.test", "ALICE")
		bob := newDevice(t, db, "@bob:hafen.test", "BOB")
		for _, typ := range []string{"org.example.a", "org.example.b", "org.example.a"} {
			err := s.SendToDevice(ctx, bob.user, bob.device, "T1", typ, map[id.UserID]map[id.DeviceID]json.RawMessage{alice.user: {alice.device: json.RawMessage(`{}`)}})
			if err != nil {
				t.Fatal(err)
			}
		}
		evs, _, err := s.ToDeviceForSync(ctx, alice.user, alice.device, 0)
		if err != nil || len(evs) != 2 {
			t.Fatalf("messages = %d, %v; want 2 (one per event type)", len(evs), err)
		}
	})
}
