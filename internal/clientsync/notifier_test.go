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
