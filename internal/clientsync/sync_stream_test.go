package clientsync

import (
	"slices"
	"sync"
	"testing"
)

// TestColdSyncDoesNotStallWrites: while a user's first sync is loading
// their memberships from the store, membership changes of that user still
// commit (sync's bookkeeping runs on its own consumer, not on the store's
// writer, and holds no lock across the load), and the change reaches the
// user whether the load's query ran before or after it.
func TestColdSyncDoesNotStallWrites(t *testing.T) { forEachBackend(t, testColdSyncDoesNotStallWrites) }

func testColdSyncDoesNotStallWrites(t *testing.T) {
	for _, tc := range []struct {
		name       string
		afterQuery bool
	}{{"change before the query", false}, {"change after the query", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			roomID := h.createRoom(alice)
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			block := func() { once.Do(func() { close(entered); <-release }) }
			if tc.afterQuery {
				h.calls.afterMemberships.Store(&block)
			} else {
				h.calls.onMemberships.Store(&block)
			}
			done := make(chan *Response, 1)
			go func() {
				resp, err := h.sync.Sync(h.ctx, Request{User: bob, Device: "DEV"})
				if err != nil {
					t.Errorf("Sync: %v", err)
				}
				done <- resp
			}()
			<-entered
			// Under the old design this join never committed: the writer
			// waited for the lock the blocked load held.
			h.member(roomID, bob, bob, "join")
			h.send(roomID, alice, "after the join")
			// Sync has applied the join (to the load in progress) before
			// the load ends.
			if err := h.sync.caughtUp(h.ctx); err != nil {
				t.Fatal(err)
			}
			close(release)
			first := <-done
			if first == nil {
				return
			}
			got := roomsOf(h.next(bob, first.NextBatch, nil)).Join[string(roomID)]
			if _, inFirst := roomsOf(first).Join[string(roomID)]; !inFirst && got == nil {
				t.Fatal("the join made while the memberships loaded never reached bob")
			}
		})
	}
}

// TestSyncAfterCrashBetweenCommitAndApply: events commit while sync's
// consumer is not running (the process dies after the commit, before sync
// applied them). Sync is not durable: the restarted service starts from
// the database's newest position, and a client syncing from its token of
// before the crash gets every event of the window, from the store.
func TestSyncAfterCrashBetweenCommitAndApply(t *testing.T) {
	forEachBackend(t, testSyncAfterCrashBetweenCommitAndApply)
}

func testSyncAfterCrashBetweenCommitAndApply(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.initial(bob, nil).NextBatch
	h.sync.Stop() // the crash: nothing after this reaches the old service
	h.send(roomID, alice, "one")
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"while down"}`)
	h.send(roomID, alice, "two")

	restarted := h.addSync(0)
	resp := h.syncWith(restarted, Request{User: bob, Device: "DEV", Since: since})
	jr := roomsOf(resp).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing after the restart")
	}
	if got, want := bodies(jr.Timeline.Events), []string{"one", "m.room.topic", "two"}; !slices.Equal(got, want) {
		t.Errorf("timeline after the restart = %v, want %v", got, want)
	}
	if resp.NextBatch != Token(restarted.Position()) || mustParse(t, resp.NextBatch) <= mustParse(t, since) {
		t.Errorf("next_batch = %s, want the restarted position %s", resp.NextBatch, Token(restarted.Position()))
	}
}
