package clientsync

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// BenchmarkIncrementalSyncManyClients: 100 users in one room, each syncing
// incrementally after every new message, as their long-polls would. It
// reports the store calls per sync, which must be zero while the ring
// covers the since tokens.
func BenchmarkIncrementalSyncManyClients(b *testing.B) {
	const users = 100
	h := newHarness(b, 0)
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
		h.send(roomID, ids[n%users], "msg")
		b.StartTimer()
		for i, u := range ids {
			resp := h.next(u, since[i], nil)
			if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || len(jr.Timeline.Events) != 1 {
				b.Fatalf("sync of %s: %+v, want the one new message", u, resp.Rooms)
			}
			since[i] = resp.NextBatch
			syncs++
		}
	}
	b.ReportMetric(float64(h.calls.n.Load())/float64(max(syncs, 1)), "storecalls/sync")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(syncs, 1)), "ns/sync")
}

func TestIncrementalSyncFromRingMakesNoStoreCalls(t *testing.T) {
	forEachBackend(t, testIncrementalSyncFromRingMakesNoStoreCalls)
}

func testIncrementalSyncFromRingMakesNoStoreCalls(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.initial(bob, nil).NextBatch
	h.send(roomID, alice, "one")
	h.send(roomID, alice, "two")
	h.calls.n.Store(0)
	resp := h.next(bob, since, nil)
	if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || len(jr.Timeline.Events) != 2 {
		t.Fatalf("sync = %+v, want two new messages", resp.Rooms)
	}
	if n := h.calls.n.Load(); n != 0 {
		t.Errorf("store calls of an incremental sync the ring covers = %d, want 0", n)
	}
}

// BenchmarkReturningClientSync: a user in 40 rooms returns after the ring
// has moved on (as after a restart); 4 rooms had a few messages, one had
// 1,200. It reports the store calls and the time of the incremental sync.
func BenchmarkReturningClientSync(b *testing.B) {
	h := newHarness(b, 2)
	var rooms []id.RoomID
	for range 40 {
		r := h.createRoom(alice)
		h.member(r, bob, bob, "join")
		rooms = append(rooms, r)
	}
	since := h.initial(bob, nil).NextBatch
	for _, r := range rooms[:4] {
		for i := range 3 {
			h.send(r, alice, fmt.Sprint(i))
		}
	}
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				content := json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"%d-%d"}`, w, i))
				if _, _, err := h.rooms.Send(h.ctx, rooms[5], room.Proposal{Type: "m.room.message", Sender: alice, Content: content}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h.calls.n.Store(0)
	syncs := 0
	for b.Loop() {
		resp := h.next(bob, since, nil)
		if len(roomsOf(resp).Join) != 5 {
			b.Fatalf("sync has %d joined rooms, want 5", len(roomsOf(resp).Join))
		}
		syncs++
	}
	b.ReportMetric(float64(h.calls.n.Load())/float64(max(syncs, 1)), "storecalls/sync")
}

// BenchmarkInitialSyncManyRooms: the initial sync of a user in 40 rooms,
// each with its creation, a rename and a few messages in its timeline.
func BenchmarkInitialSyncManyRooms(b *testing.B) {
	h := newHarness(b, 0)
	for i := range 40 {
		r := h.createRoom(alice)
		h.member(r, bob, bob, "join")
		h.state(r, alice, "m.room.name", "", fmt.Sprintf(`{"name":"Room %d"}`, i))
		h.state(r, bob, "m.room.member", string(bob), `{"membership":"join","displayname":"Bob"}`)
		for j := range 3 {
			h.send(r, alice, fmt.Sprint(j))
		}
	}
	for b.Loop() {
		if resp := h.initial(bob, nil); len(roomsOf(resp).Join) != 40 {
			b.Fatalf("sync has %d joined rooms, want 40", len(roomsOf(resp).Join))
		}
	}
}
