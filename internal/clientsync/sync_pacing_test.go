package clientsync

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestAnswerPacing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	devices := []id.DeviceID{"D0", "D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9"}

	t.Run("the interval grows with the devices syncing", func(t *testing.T) {
		p := newAnswerPacing(1000) // 1,000 answers per second
		p.answered(alice, devices[0], at(0))
		for _, d := range devices[1:] {
			p.answered(alice, d, at(100*time.Millisecond))
		}
		// A second later the count is taken again: ten devices answered
		// within the last second, so each waits 10 ms between answers.
		p.answered(alice, devices[0], at(time.Second))
		if got, _ := p.wait(alice, devices[0], at(time.Second+4*time.Millisecond)); got != 6*time.Millisecond {
			t.Errorf("wait 4 ms after the last answer = %v, want 6ms", got)
		}
		if got, _ := p.wait(alice, devices[0], at(time.Second+10*time.Millisecond)); got != 0 {
			t.Errorf("wait once the interval passed = %v, want 0", got)
		}
		if got, _ := p.wait(bob, devices[0], at(time.Second)); got != 0 {
			t.Errorf("wait of a device never answered = %v, want 0", got)
		}
	})
	t.Run("receipts posted since the last answer stretch the wait", func(t *testing.T) {
		p := newAnswerPacing(100) // one device syncing: 10 ms apart
		p.answered(alice, devices[0], at(0))
		p.receiptPosted(alice, devices[0])
		if got, n := p.wait(alice, devices[0], at(time.Millisecond)); got != 19*time.Millisecond || n != 1 {
			t.Errorf("wait after one receipt = %v, %d receipts; want 19ms, 1", got, n)
		}
		p.receiptPosted(alice, devices[0])
		p.receiptPosted(alice, devices[0])
		p.receiptPosted(alice, devices[0])
		p.receiptPosted(alice, devices[0])
		if got, n := p.wait(alice, devices[0], at(0)); got != MaxAnswerInterval || n != 5 {
			t.Errorf("wait after five receipts = %v, %d receipts; want the cap %v, 5", got, n, MaxAnswerInterval)
		}
		// The next answer starts the count again.
		p.answered(alice, devices[0], at(time.Second/2))
		if got, n := p.wait(alice, devices[0], at(time.Second/2)); got != 10*time.Millisecond || n != 0 {
			t.Errorf("wait after the next answer = %v, %d receipts; want 10ms, 0", got, n)
		}
		// A device not answered lately is not paced, receipts or not.
		p.receiptPosted(bob, devices[0])
		if got, n := p.wait(bob, devices[0], at(time.Second/2)); got != 0 || n != 0 {
			t.Errorf("wait of a device never answered, after a receipt = %v, %d; want 0, 0", got, n)
		}
	})
	t.Run("the interval is capped", func(t *testing.T) {
		p := newAnswerPacing(1)
		p.answered(alice, devices[0], at(0))
		if got, _ := p.wait(alice, devices[0], at(0)); got != MaxAnswerInterval {
			t.Errorf("wait = %v, want the cap %v", got, MaxAnswerInterval)
		}
	})
	t.Run("devices that stopped syncing are forgotten", func(t *testing.T) {
		p := newAnswerPacing(1000)
		for _, d := range devices {
			p.answered(alice, d, at(0))
		}
		p.answered(alice, devices[0], at(2*time.Second))
		if len(p.last) != 1 || p.syncing != 1 {
			t.Errorf("after two quiet seconds: %d devices kept, %d counted syncing; want 1 and 1", len(p.last), p.syncing)
		}
	})
	t.Run("a budget of 0 or less never paces", func(t *testing.T) {
		p := newAnswerPacing(-1)
		p.answered(alice, devices[0], at(0))
		p.receiptPosted(alice, devices[0])
		if got, _ := p.wait(alice, devices[0], at(0)); got != 0 || len(p.last) != 0 {
			t.Errorf("wait = %v with %d devices kept, want 0 and none", got, len(p.last))
		}
	})
}

// pauseLog records the pauses a sync took instead of waiting them out.
type pauseLog struct {
	mu     sync.Mutex
	pauses []time.Duration
	// done says, for each pause, whether its context had already ended.
	done []bool
}

func (l *pauseLog) pause(ctx context.Context, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pauses = append(l.pauses, d)
	l.done = append(l.done, ctx.Err() != nil)
}

func (l *pauseLog) taken() ([]time.Duration, []bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pauses), slices.Clone(l.done)
}

func TestSyncPacing(t *testing.T) { forEachBackend(t, testSyncPacing) }

func testSyncPacing(t *testing.T) {
	h := newHarness(t, 0)
	// A budget of one answer per second paces every device by the cap.
	h.sync.pacing = newAnswerPacing(1)
	var log pauseLog
	h.sync.pauseFor = log.pause
	roomID := h.createRoom(alice)

	since := h.initial(alice, nil).NextBatch
	if got, _ := log.taken(); len(got) != 0 {
		t.Fatalf("an initial sync paused %v", got)
	}
	// Alice's device comes back right after its answer: it waits out its
	// pace, then answers with the news that came meanwhile.
	h.send(roomID, alice, "meanwhile")
	resp := h.syncWith(h.sync, Request{User: alice, Device: "DEV", Since: since, Timeout: MaxTimeout})
	if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || !slices.Equal(bodies(jr.Timeline.Events), []string{"meanwhile"}) {
		t.Errorf("paced answer = %+v, want the timeline [meanwhile]", resp.Rooms)
	}
	pauses, done := log.taken()
	if len(pauses) != 1 || pauses[0] <= 0 || pauses[0] > MaxAnswerInterval || done[0] {
		t.Fatalf("pauses = %v (context done: %v), want one of at most %v with time to wait", pauses, done, MaxAnswerInterval)
	}

	// Another device of the same user has had no answer: it is not paced.
	h.syncWith(h.sync, Request{User: alice, Device: "OTHER", Since: since})
	if got, _ := log.taken(); len(got) != 1 {
		t.Errorf("a device with no earlier answer paused: %v", got[1:])
	}
	// A poll with timeout 0 may not wait, and does not.
	h.syncWith(h.sync, Request{User: alice, Device: "DEV", Since: resp.NextBatch})
	if got, _ := log.taken(); len(got) != 1 {
		t.Errorf("a poll with timeout 0 paused: %v", got[1:])
	}
}

func TestSyncPacingCountsReceipts(t *testing.T) { forEachBackend(t, testSyncPacingCountsReceipts) }

// testSyncPacingCountsReceipts checks that a receipt the device posts after
// an answer, before its next poll or while that poll waits out its pace,
// makes the poll wait one interval more.
func testSyncPacingCountsReceipts(t *testing.T) {
	h := newHarness(t, 0)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h.sync.now = func() time.Time { return t0 } // the clock stands still
	h.sync.pacing = newAnswerPacing(100)        // one device: 10 ms apart
	var log pauseLog
	h.sync.pauseFor = log.pause
	roomID := h.createRoom(alice)
	since := h.initial(alice, nil).NextBatch

	// A receipt posted before the poll: one pause of two intervals.
	h.sync.ReceiptPosted(alice, "DEV")
	h.send(roomID, alice, "one")
	resp := h.syncWith(h.sync, Request{User: alice, Device: "DEV", Since: since, Timeout: MaxTimeout})
	if got, _ := log.taken(); !slices.Equal(got, []time.Duration{20 * time.Millisecond}) {
		t.Errorf("pauses after a receipt before the poll = %v, want [20ms]", got)
	}

	// A receipt posted while the poll waits out its pace: a second pause
	// for the interval it adds.
	var during pauseLog
	h.sync.pauseFor = func(ctx context.Context, d time.Duration) {
		if got, _ := during.taken(); len(got) == 0 {
			h.sync.ReceiptPosted(alice, "DEV")
		}
		during.pause(ctx, d)
	}
	h.send(roomID, alice, "two")
	resp = h.syncWith(h.sync, Request{User: alice, Device: "DEV", Since: resp.NextBatch, Timeout: MaxTimeout})
	if got, _ := during.taken(); !slices.Equal(got, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}) {
		t.Errorf("pauses with a receipt during the first = %v, want [10ms 20ms]", got)
	}

	// No receipt: one pause of one interval.
	var plain pauseLog
	h.sync.pauseFor = plain.pause
	h.send(roomID, alice, "three")
	h.syncWith(h.sync, Request{User: alice, Device: "DEV", Since: resp.NextBatch, Timeout: MaxTimeout})
	if got, _ := plain.taken(); !slices.Equal(got, []time.Duration{10 * time.Millisecond}) {
		t.Errorf("pauses without receipts = %v, want [10ms]", got)
	}
}
