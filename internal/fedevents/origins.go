package fedevents

import (
	"sync"

	"github.com/hafenchat/hafen/internal/core/id"
)

// originLocks serialises the transactions of each origin: a server's
// transactions are processed in the order they are taken, and a retry
// waits for its original and then finds its stored answer. Entries exist
// only while someone holds or waits for them, so the map does not grow
// with the number of servers ever seen.
type originLocks struct {
	mu sync.Mutex
	m  map[id.ServerName]*originLock
}

type originLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by originLocks.mu
}

// lock takes origin's lock and returns its release.
func (o *originLocks) lock(origin id.ServerName) (unlock func()) {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[id.ServerName]*originLock{}
	}
	l, ok := o.m[origin]
	if !ok {
		l = &originLock{}
		o.m[origin] = l
	}
	l.refs++
	o.mu.Unlock()

	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		o.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(o.m, origin)
		}
		o.mu.Unlock()
	}
}

// len returns the number of origins with a holder or waiter.
func (o *originLocks) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m)
}

// waiters returns how many hold or wait for origin's lock.
func (o *originLocks) waiters(origin id.ServerName) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if l, ok := o.m[origin]; ok {
		return l.refs
	}
	return 0
}
