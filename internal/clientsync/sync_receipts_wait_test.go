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
	h.awaitWaiting(ch, "with receipts only")
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
	roomID, one, two, since := h.bobReadsTwoMessages()
	got := receiptContent(t, h.next(alice, since, nil), roomID)
	if got[string(two)]["m.read"][string(bob)] == nil || got[string(one)] != nil {
		t.Errorf("receipts = %v, want bob's at two only", got)
	}
}

// awaitWaiting returns once the sync of ch waits, failing the test if it
// answers first: it had nothing to answer yet (what).
func (h *harness) awaitWaiting(ch <-chan syncResult, what string) {
	h.t.Helper()
	deadline := time.Now().Add(safety)
	for h.sync.Waiting() == 0 {
		select {
		case r := <-ch:
			h.t.Fatalf("sync answered at once %s: %+v (%v)", what, r.resp, r.err)
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatal("sync neither waits nor answers")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReceiptsShownTogether checks the pacing of receipts: a receipt after
// a quiet spell is shown at once; the ones that follow within the receipt
// interval are held back and shown together at its end, each user's newest
// only, waking a long-polling sync.
func TestReceiptsShownTogether(t *testing.T) {
	forEachBackend(t, testReceiptsShownTogether)
}

func testReceiptsShownTogether(t *testing.T) {
	h := newHarness(t, 0)
	// The interval never ends by itself: the test ends it with
	// showReceipts, as the timer would.
	h.sync.receiptInterval = time.Hour
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, carol, carol, "join")
	one := h.send(roomID, alice, "one")
	two := h.send(roomID, alice, "two")
	since := h.initial(alice, nil).NextBatch
	post := func(user id.UserID, ev id.EventID) {
		t.Helper()
		if err := rs.Post(h.ctx, user, roomID, receipts.TypeRead, ev, ""); err != nil {
			t.Fatal(err)
		}
	}

	post(bob, one)
	first := h.next(alice, since, nil)
	if got := receiptContent(t, first, roomID); got[string(one)]["m.read"][string(bob)] == nil {
		t.Fatalf("the first receipt is not shown at once: %v", got)
	}
	post(bob, two)
	post(carol, one)
	post(carol, two)
	if held := h.next(alice, first.NextBatch, nil); !held.isEmpty() {
		t.Errorf("receipts within the interval shown at once: %v", receiptContent(t, held, roomID))
	}
	ch := h.startSync(Request{User: alice, Since: first.NextBatch, Timeout: MaxTimeout})
	h.awaitWaiting(ch, "before the receipts are shown")
	h.sync.showReceipts()
	got := receiptContent(t, await(t, ch), roomID)
	if r := got[string(two)]["m.read"]; len(r) != 2 || r[string(bob)] == nil || r[string(carol)] == nil {
		t.Errorf("receipts for two = %v, want bob's and carol's", r)
	}
	if got[string(one)] != nil {
		t.Errorf("receipts for one = %v, want none: bob's was shown, carol's replaced", got[string(one)])
	}
}

// TestHeldReceiptsShownByTheTimer checks that receipts held back at the
// start of an interval reach a long-polling sync when it ends, with no
// other news to carry them.
func TestHeldReceiptsShownByTheTimer(t *testing.T) {
	forEachBackend(t, testHeldReceiptsShownByTheTimer)
}

func testHeldReceiptsShownByTheTimer(t *testing.T) {
	h := newHarness(t, 0)
	h.sync.receiptInterval = 20 * time.Millisecond
	// Bob's first receipt is shown at once, the second held back (the
	// harness's clock stands still: the interval never passes by the
	// clock, only by the timer).
	roomID, _, two, since := h.bobReadsTwoMessages()
	for deadline := time.Now().Add(safety); ; {
		resp := await(t, h.startSync(Request{User: alice, Since: since, Timeout: MaxTimeout}))
		if got := receiptContent(t, resp, roomID); got[string(two)]["m.read"][string(bob)] != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the held receipt never reached the sync")
		}
		since = resp.NextBatch
	}
}

// bobReadsTwoMessages creates alice's room with bob in it and two messages,
// takes alice's initial sync token and then posts bob's read receipt for
// the first message and then for the second.
func (h *harness) bobReadsTwoMessages() (roomID id.RoomID, one, two id.EventID, since string) {
	h.t.Helper()
	rs := h.receipts()
	roomID = h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	one = h.send(roomID, alice, "one")
	two = h.send(roomID, alice, "two")
	since = h.initial(alice, nil).NextBatch
	for _, ev := range []id.EventID{one, two} {
		if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, ev, ""); err != nil {
			h.t.Fatal(err)
		}
	}
	return roomID, one, two, since
}
