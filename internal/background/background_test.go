package background

import (
	"context"
	"testing"
)

// TestCloseCancelsAndWaits checks that Close cancels running work, waits
// for it, and that work started after Close does not run.
func TestCloseCancelsAndWaits(t *testing.T) {
	var g Group
	started := make(chan struct{})
	done := false
	g.Go(func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		done = true
	})
	<-started
	g.Close()
	if !done {
		t.Fatal("Close returned before the work ended")
	}
	ran := make(chan struct{}, 1)
	g.Go(func(context.Context) { ran <- struct{}{} })
	g.Close()
	select {
	case <-ran:
		t.Fatal("work started after Close ran")
	default:
	}
}
