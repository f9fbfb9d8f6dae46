package clientsync

import (
	"sync"
	"testing"
)

// TestColdSyncDoesNotStallWrites: while a user's first sync is loading
// their memberships from the store, membership changes of that user still
// commit (sync's bookkeeping runs on its own consumer, not on the store's
// writer, and holds no lock across the load), and the change reaches the
// user.
func TestColdSyncDoesNotStallWrites(t *testing.T) { forEachBackend(t, testColdSyncDoesNotStallWrites) }

func testColdSyncDoesNotStallWrites(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	block := func() { once.Do(func() { close(entered); <-release }) }
	h.calls.onMemberships.Store(&block)
	done := make(chan *Response, 1)
	go func() {
		resp, err := h.sync.Sync(h.ctx, Request{User: bob, Device: "DEV"})
		if err != nil {
			t.Errorf("Sync: %v", err)
		}
		done <- resp
	}()
	<-entered
	// Under the old design this join never committed: the writer waited
	// for the lock the blocked load held.
	h.member(roomID, bob, bob, "join")
	h.send(roomID, alice, "after the join")
	close(release)
	first := <-done
	if first == nil {
		return
	}
	got := roomsOf(h.next(bob, first.NextBatch, nil)).Join[string(roomID)]
	if _, inFirst := roomsOf(first).Join[string(roomID)]; !inFirst && got == nil {
		t.Fatal("the join made while the memberships loaded never reached bob")
	}
}
