package clientsync

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// BenchmarkIncrementalSyncManyClientsPresence is
// BenchmarkIncrementalSyncManyClients with presence off and on, in the
// same run: 100 users in one room, each syncing incrementally (with
// set_presence=online) after every new message; with presence on, one
// user also changes their status each round, so every sync carries a
// presence event. It reports the store calls per sync, which must stay
// zero: presence comes from memory.
func BenchmarkIncrementalSyncManyClientsPresence(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("presence=%v", on), func(b *testing.B) {
			const users = 100
			h := newHarness(b, 0)
			calls := &countingStore{Store: h.db}
			s := New(Config{DB: calls, Rooms: h.rooms, Logger: slog.New(slog.DiscardHandler), Stream: h.rooms.Stream(),
				Now: h.sync.now, Presence: PresenceConfig{Enabled: on}})
			if err := s.Start(h.ctx); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(s.Stop)
			roomID := h.createRoom(alice)
			ids := make([]id.UserID, users)
			since := make([]string, users)
			for i := range ids {
				ids[i] = id.UserID(fmt.Sprintf("@u%d:hafen.test", i))
				h.member(roomID, ids[i], ids[i], "join")
			}
			for i, u := range ids {
				since[i] = h.syncWith(s, Request{User: u}).NextBatch
			}
			// Every user has synced once: their memberships are cached.
			for i, u := range ids {
				since[i] = h.syncWith(s, Request{User: u, Since: since[i]}).NextBatch
			}
			calls.n.Store(0)
			syncs := 0
			for n := 0; b.Loop(); n++ {
				b.StopTimer()
				h.send(roomID, ids[n%users], "msg")
				if on {
					msg := fmt.Sprintf("status %d", n)
					s.SetPresence(ids[n%users], PresenceOnline, &msg)
				}
				b.StartTimer()
				for i, u := range ids {
					resp := h.syncWith(s, Request{User: u, Since: since[i], SetPresence: PresenceOnline})
					if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || len(jr.Timeline.Events) != 1 {
						b.Fatalf("sync of %s: %+v, want the one new message", u, resp.Rooms)
					}
					if on && len(resp.presenceEvents()) == 0 {
						b.Fatalf("sync of %s has no presence", u)
					}
					since[i] = resp.NextBatch
					syncs++
				}
			}
			b.ReportMetric(float64(calls.n.Load())/float64(max(syncs, 1)), "storecalls/sync")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(syncs, 1)), "ns/sync")
		})
	}
}
