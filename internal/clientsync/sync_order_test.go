package clientsync

import (
	"fmt"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Events of different rooms committed in one store batch must reach sync
// in stream order: a sync that hands out next_batch=N must already hold
// every event at or below N, or a client never sees the older one. Here
// many rooms are written concurrently while a client keeps syncing; every
// message must arrive exactly once.
func TestConcurrentRoomsReachSyncInStreamOrder(t *testing.T) {
	forEachBackend(t, testConcurrentRoomsReachSyncInStreamOrder)
}

func testConcurrentRoomsReachSyncInStreamOrder(t *testing.T) {
	h := newHarness(t, 0)
	const rooms, each = 8, 25
	var roomIDs []id.RoomID
	for range rooms {
		roomIDs = append(roomIDs, h.createRoom(alice))
	}
	since := h.pos()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r, roomID := range roomIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.send(roomID, alice, fmt.Sprintf("%d-%d", r, i))
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[string]int{}
	collect := func(resp *Response) {
		for _, jr := range roomsOf(resp).Join {
			for _, b := range bodies(jr.Timeline.Events) {
				seen[b]++
			}
			if jr.Timeline.Limited {
				t.Fatalf("timeline limited at %d events per sync; the test needs every event in the timeline", DefaultTimelineLimit)
			}
		}
	}
	limit := 1000
	f := &Filter{Room: &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: &limit}}}}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		resp := h.next(alice, since, f)
		collect(resp)
		since = resp.NextBatch
	}
	collect(h.next(alice, since, f))
	for r := range rooms {
		for i := range each {
			if b := fmt.Sprintf("%d-%d", r, i); seen[b] != 1 {
				t.Errorf("message %s seen %d times, want once", b, seen[b])
			}
		}
	}
}
