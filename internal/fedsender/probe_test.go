package fedsender

import (
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// fakeTimers is a clock whose timers fire only when the test says so.
type fakeTimers struct {
	mu      sync.Mutex
	pending []fakeTimer
}

type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	f.pending = append(f.pending, fakeTimer{d: d, ch: ch})
	return ch
}

// fire waits until a timer is pending, fires the oldest and returns its
// duration.
func (f *fakeTimers) fire(t *testing.T) time.Duration {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		if len(f.pending) > 0 {
			ft := f.pending[0]
			f.pending = f.pending[1:]
			f.mu.Unlock()
			ft.ch <- time.Now()
			return ft.d
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no timer pending")
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *peer) probeCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes
}

// waitProbes waits until the peer was probed n times.
func waitProbes(t *testing.T, p *peer, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.probeCount() < n {
		if time.Now().After(deadline) {
			t.Fatalf("peer probed %d times, want %d", p.probeCount(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestProbeEndsBackoff: a destination in a long backoff is probed every
// probe interval with GET /version; while it does not answer nothing is
// sent, and the first probe it answers sends the queue at once, without
// waiting out the backoff and without the destination contacting us.
// The clock is fake: timers fire when the test fires them.
func TestProbeEndsBackoff(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		timers := &fakeTimers{}
		h := startHome(t, dsn, time.Hour)
		h.probe, h.after = time.Second, timers.After
		h.peer = startPeer(t, h.key)
		h.open(t)
		t.Cleanup(h.close)
		p := h.peer
		roomID, _ := h.publicRoom(t)
		p.setDown(true)
		first := h.send(t, roomID, "while down")
		h.waitFailures(t, 1)

		// Probes while it is down: answered 503, nothing sent.
		for i := 1; i <= 3; i++ {
			if d := timers.fire(t); d != time.Second {
				t.Fatalf("timer of %s, want the probe interval (the backoff is an hour)", d)
			}
			waitProbes(t, p, i)
		}
		if counts, _ := p.received(); len(counts) != 0 {
			t.Fatalf("peer received %v while down", counts)
		}
		second := h.send(t, roomID, "still down")

		// Back: the next probe answers and the queue goes at once.
		p.setDown(false)
		timers.fire(t)
		p.waitFor(t, first, second)
		counts, _ := p.received()
		if counts[first] != 1 || counts[second] != 1 {
			t.Errorf("received %v, want each event once", counts)
		}
		waitQueue(t, h, 0)
		if d := h.destination(t); d.Failures != 0 {
			t.Errorf("destination after the probe = %+v, want no failures", d)
		}
	})
}

// TestNoProbeAfterProbeFor: a destination failing for longer than
// ProbeFor is no longer probed; its backoff alone (or its contact)
// retries it.
func TestNoProbeAfterProbeFor(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	timers := &fakeTimers{}
	s, err := New(Config{FirstBackoff: time.Hour, MaxBackoff: 2 * time.Hour, ProbeInterval: time.Second, ProbeFor: time.Minute,
		Now: func() time.Time { return now }, After: timers.After})
	if err != nil {
		t.Fatal(err)
	}
	d := &destination{name: id.ServerName("gone.test"), poke: make(chan struct{}, 1), failures: 5,
		nextRetry: now.Add(time.Hour), failingSince: now.Add(-2 * time.Minute)}
	done := make(chan bool, 1)
	go func() { done <- s.waitRetry(t.Context(), d) }()
	if got := timers.fire(t); got != time.Hour {
		t.Errorf("waited %s, want the whole backoff without probes", got)
	}
	if !<-done {
		t.Error("waitRetry ended false")
	}
}
