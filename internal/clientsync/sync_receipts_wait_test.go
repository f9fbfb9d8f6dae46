package clientsync

import (
	"context"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/receipts"
)

// TestNotifierReceiptsWakeOnlyChangeWaiters checks that a receipt poke
// counts as a change but not as news, and that WaitNews returns on the
// next change that is news.
func TestNotifierReceiptsWakeOnlyChangeWaiters(t *testing.T) {
	n := NewNotifier(1)
	changes, news := n.Changes(), n.News()
	n.PokeReceipts()
	if n.Changes() != changes+1 || n.News() != news {
		t.Fatalf("after PokeReceipts: changes %d news %d, want %d and %d", n.Changes(), n.News(), changes+1, news)
	}
	if got := n.WaitChange(context.Background(), changes); got != changes+1 {
		t.Errorf("WaitChange = %d, want %d", got, changes+1)
	}
	got := make(chan uint64, 1)
	go func() { got <- n.WaitNews(context.Background(), news) }()
	n.PokeReceipts()
	n.Advance(2)
	if g := <-got; g != news+1 {
		t.Errorf("WaitNews = %d, want %d: only the advance is news", g, news+1)
	}
}

// TestReceiptOnlySyncWaitsForTheNextEvent checks that a long-polling sync
// whose only news is a read receipt does not answer at once but with the
// next event, receipt and event together.
func TestReceiptOnlySyncWaitsForTheNextEvent(t *testing.T) {
	forEachBackend(t, testReceiptOnlySyncWaitsForTheNextEvent)
}

func testReceiptOnlySyncWaitsForTheNextEvent(t *testing.T) {
	h := newHarness(t, 0)
	h.sync.receiptDelay = time.Hour // the event comes first
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	one := h.send(roomID, alice, "one")
	since := h.initial(alice, nil).NextBatch
	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, one, ""); err != nil {
		t.Fatal(err)
	}
	ch := h.startSync(Request{User: alice, Since: since, Timeout: MaxTimeout})
	deadline := time.Now().Add(safety)
	for h.sync.Waiting() == 0 {
		select {
		case r := <-ch:
			t.Fatalf("sync answered at once with receipts only: %+v (%v)", r.resp, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("sync neither waits nor answers")
		}
		time.Sleep(time.Millisecond)
	}
	two := h.send(roomID, alice, "two")
	resp := await(t, ch)
	if got := receiptContent(t, resp, roomID)[string(one)]["m.read"]; got[string(bob)] == nil {
		t.Errorf("answer lacks bob's receipt: %v", receiptContent(t, resp, roomID))
	}
	jr := roomsOf(resp).Join[string(roomID)]
	if jr == nil || len(jr.Timeline.Events) != 1 || jr.Timeline.Events[0].EventID != string(two) {
		t.Errorf("answer's timeline = %+v, want event two", jr)
	}
	// What the answer carried is not repeated.
	if again := h.next(alice, resp.NextBatch, nil); !again.isEmpty() {
		t.Errorf("sync after the answer = %+v", again.Rooms)
	}
}

// TestSyncShowsOnlyTheLatestReceipt checks that an incremental sync shows
// each user's newest receipt of the range, not the ones it replaced.
func TestSyncShowsOnlyTheLatestReceipt(t *testing.T) {
	forEachBackend(t, testSyncShowsOnlyTheLatestReceipt)
}

func testSyncShowsOnlyTheLatestReceipt(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	one := h.send(roomID, alice, "one")
	two := h.send(roomID, alice, "two")
	since := h.initial(alice, nil).NextBatch
	for _, ev := range []id.EventID{one, two} {
		if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, ev, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := receiptContent(t, h.next(alice, since, nil), roomID)
	if got[string(two)]["m.read"][string(bob)] == nil || got[string(one)] != nil {
		t.Errorf("receipts = %v, want bob's at two only", got)
	}
}
