package clientsync

import (
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"

	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/store"
)

// deviceListChanged records a change of user's device list and tells keys,
// as the account service does after removing a device.
func (h *harness) deviceListChanged(keys *e2ee.Service, user id.UserID) {
	h.t.Helper()
	err := h.db.Write(h.ctx, func(tx *store.Tx) error {
		_, err := tx.AddDeviceListChange(h.ctx, user, "")
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	keys.DevicesRemoved(user)
}

// BenchmarkIncrementalSyncE2EE: alice, in 200 rooms, syncs incrementally
// after each new message, without the E2EE sections, with them (no key
// changed: answered from memory), and with a device list change of a user
// sharing a room before each sync. It reports the time per sync and the
// store calls of the sync engine.
func BenchmarkIncrementalSyncE2EE(b *testing.B) {
	for _, mode := range []string{"no_e2ee", "e2ee", "e2ee_device_list_change"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, 0)
			const rooms = 200
			ids := make([]id.RoomID, rooms)
			for i := range ids {
				ids[i] = h.createRoom(alice)
			}
			h.member(ids[0], bob, bob, "join")
			var keys *e2ee.Service
			if mode != "no_e2ee" {
				keys = &e2ee.Service{DB: h.db, ServerName: testServer}
				h.sync.SetE2EE(keys)
			}
			since := h.initial(alice, nil).NextBatch
			h.calls.n.Store(0)
			syncs := 0
			for n := 0; b.Loop(); n++ {
				b.StopTimer()
				h.send(ids[n%rooms], alice, "msg")
				if mode == "e2ee_device_list_change" {
					h.deviceListChanged(keys, bob)
				}
				b.StartTimer()
				resp := h.next(alice, since, nil)
				if mode == "e2ee_device_list_change" && (resp.DeviceLists == nil || len(resp.DeviceLists.Changed) != 1) {
					b.Fatalf("device_lists = %+v, want bob changed", resp.DeviceLists)
				}
				since = resp.NextBatch
				syncs++
			}
			b.ReportMetric(float64(h.calls.n.Load())/float64(max(syncs, 1)), "storecalls/sync")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(syncs, 1)), "ns/sync")
		})
	}
}
