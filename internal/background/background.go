// Package background runs work that outlives the request that starts it
// (fetching a room's history after a join, the events of a gap) until the
// server closes the service that owns it.
package background

import (
	"context"
	"sync"
)

// Group runs functions on goroutines of their own under one context that
// Close cancels. The zero value is ready to use.
type Group struct {
	// mu guards the fields below (LOCKS.md: a leaf).
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	closed bool
	wg     sync.WaitGroup
}

// Go starts fn on a goroutine of its own, unless Close was called. fn's
// context is the group's: it outlives the caller's request and ends with
// Close.
func (g *Group) Go(fn func(ctx context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	if g.ctx == nil {
		g.ctx, g.cancel = context.WithCancel(context.Background())
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
	}()
}

// Close cancels the work running (work in flight is abandoned through its
// context), refuses new work and waits until all of it has returned.
func (g *Group) Close() {
	g.mu.Lock()
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.wg.Wait()
}
