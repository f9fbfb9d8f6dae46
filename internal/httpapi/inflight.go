package httpapi

import (
	"context"
	"net/http"
	"sync"
)

// InFlight counts the requests its handlers are running, so that shutdown
// can wait for the last one before closing what they use (the store): an
// http.Server whose Shutdown timed out still runs its handlers.
type InFlight struct {
	wg sync.WaitGroup
}

// Wrap returns next counted by f.
func (f *InFlight) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.wg.Add(1)
		defer f.wg.Done()
		next.ServeHTTP(w, r)
	})
}

// Wait returns nil once no request runs, or ctx's error if it ends first.
func (f *InFlight) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
