package fedevents

import (
	"testing"
	"time"
)

// TestOriginLocks checks that the transactions of one origin wait for
// each other while another origin's proceed, and that an origin's entry
// goes once nobody holds or waits for it.
func TestOriginLocks(t *testing.T) {
	var o originLocks
	unlockA := o.lock("a.example")

	// Another origin is not held up by a.example.
	done := make(chan struct{})
	go func() {
		unlock := o.lock("b.example")
		unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("b.example waited for a.example")
	}

	// A second transaction of a.example waits for the first.
	acquired := make(chan func())
	go func() { acquired <- o.lock("a.example") }()
	for o.waiters("a.example") < 2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-acquired:
		t.Fatal("a second transaction of a.example ran while the first held the lock")
	default:
	}
	unlockA()
	var unlock2 func()
	select {
	case unlock2 = <-acquired:
	case <-time.After(10 * time.Second):
		t.Fatal("the second transaction of a.example never ran")
	}
	unlock2()
	if n := o.len(); n != 0 {
		t.Errorf("%d origins left in the map, want 0", n)
	}
}
