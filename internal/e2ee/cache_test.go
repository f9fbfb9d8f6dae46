package e2ee

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// TestSyncAnswersFromMemory: once the service has answered a device's
// sync questions, it answers them again without the store (here closed),
// and its own writes keep the answers right.
func TestSyncAnswersFromMemory(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openStore(t, dsn)
		now := time.Unix(1_700_000_000, 0)
		s := &Service{DB: db, ServerName: "hafen.test", Now: func() time.Time { return now }}
		alice := newDevice(t, db, "@alice:hafen.test", "ALICE")
		bob := newDevice(t, db, "@bob:hafen.test", "BOB")
		alice.uploadOTKs(t, s, 3, true)

		ask := func() (map[string]int, []string, bool, int64, int64) {
			t.Helper()
			counts, err1 := s.OneTimeKeyCounts(ctx, alice.user, alice.device)
			types, err2 := s.UnusedFallbackKeyTypes(ctx, alice.user, alice.device)
			pending, err3 := s.HasToDevice(ctx, alice.user, alice.device, 0)
			evs, next, err4 := s.ToDeviceForSync(ctx, alice.user, alice.device, 1)
			pos, err5 := s.DeviceListPosition(ctx)
			for _, err := range []error{err1, err2, err3, err4, err5} {
				if err != nil {
					t.Fatalf("sync questions: %v", err)
				}
			}
			if len(evs) != 0 {
				t.Fatalf("to-device after 1: %d events", len(evs))
			}
			return counts, types, pending, next, pos
		}
		if _, err := claimOne(ctx, s, alice); err != nil {
			t.Fatal(err)
		}
		err := s.SendToDevice(ctx, bob.user, bob.device, "t1", "org.example", map[id.UserID]map[id.DeviceID]json.RawMessage{alice.user: {alice.device: json.RawMessage(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		counts, types, pending, next, pos := ask()
		if counts["signed_curve25519"] != 2 || len(types) != 1 || !pending || next != 1 || pos == 0 {
			t.Fatalf("answers = %v %v %v %d %d, want 2 one-time keys, 1 fallback type, a message at 1 and a device list position", counts, types, pending, next, pos)
		}
		db.Close()
		c2, t2, p2, n2, pos2 := ask()
		if c2["signed_curve25519"] != 2 || len(t2) != 1 || !p2 || n2 != 1 || pos2 != pos {
			t.Errorf("answers without the store = %v %v %v %d %d, want the same as before", c2, t2, p2, n2, pos2)
		}
	})
}
