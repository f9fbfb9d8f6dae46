package clientsync

import (
	"context"
	"testing"
	"time"
)

func TestNotifierWakesWaiters(t *testing.T) {
	n := NewNotifier(5)
	got := make(chan int64, 3)
	for range 3 {
		go func() { got <- n.Wait(context.Background(), 5) }()
	}
	n.Advance(4) // behind: ignored, nobody wakes
	n.Advance(7)
	for range 3 {
		if pos := <-got; pos != 7 {
			t.Fatalf("Wait = %d, want 7", pos)
		}
	}
	if pos := n.Wait(context.Background(), 6); pos != 7 {
		t.Fatalf("Wait(since=6) = %d, want 7 without blocking", pos)
	}
}

func TestNotifierWaitHonoursContext(t *testing.T) {
	n := NewNotifier(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if pos := n.Wait(ctx, 1); pos != 1 {
		t.Fatalf("Wait after deadline = %d, want 1", pos)
	}
}

func TestNotifierStopEndsWaits(t *testing.T) {
	n := NewNotifier(3)
	got := make(chan int64, 2)
	for range 2 {
		go func() { got <- n.Wait(context.Background(), 3) }()
	}
	for n.Waiting() < 2 {
		time.Sleep(time.Millisecond)
	}
	n.Stop()
	for range 2 {
		if pos := <-got; pos != 3 {
			t.Fatalf("Wait after Stop = %d, want 3", pos)
		}
	}
	// Waits that start after Stop return at once.
	if pos := n.Wait(context.Background(), 3); pos != 3 {
		t.Fatalf("Wait after Stop = %d, want 3", pos)
	}
	n.Stop() // twice is fine
	if n.Waiting() != 0 {
		t.Errorf("Waiting = %d after every Wait returned", n.Waiting())
	}
}
