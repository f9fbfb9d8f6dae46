package clientsync

import (
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/receipts"
)

// BenchmarkIncrementalSyncManyClientsWithReceipts is
// BenchmarkIncrementalSyncManyClients with every member sending a read
// receipt for every message before the syncs: the syncs carry the message
// and 100 receipts each.
func BenchmarkIncrementalSyncManyClientsWithReceipts(b *testing.B) {
	const users = 100
	h := newHarness(b, 0)
	rs := &receipts.Service{DB: h.db, AccountData: h.accountData(), Changed: h.sync.ReceiptsAdded}
	roomID := h.createRoom(alice)
	ids := make([]id.UserID, users)
	since := make([]string, users)
	for i := range ids {
		ids[i] = id.UserID(fmt.Sprintf("@u%d:hafen.test", i))
		h.member(roomID, ids[i], ids[i], "join")
	}
	for i, u := range ids {
		since[i] = h.initial(u, nil).NextBatch
	}
	h.calls.n.Store(0)
	syncs := 0
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		ev := h.send(roomID, ids[n%users], "msg")
		for _, u := range ids {
			if err := rs.Post(h.ctx, u, roomID, receipts.TypeRead, ev, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for i, u := range ids {
			resp := h.next(u, since[i], nil)
			if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || len(jr.Timeline.Events) != 1 || len(jr.Ephemeral.Events) != 1 {
				b.Fatalf("sync of %s: %+v, want the one new message and its receipts", u, resp.Rooms)
			}
			since[i] = resp.NextBatch
			syncs++
		}
	}
	b.ReportMetric(float64(h.calls.n.Load())/float64(max(syncs, 1)), "storecalls/sync")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(syncs, 1)), "ns/sync")
}
