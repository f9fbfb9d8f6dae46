package clientsync

import (
	"context"
	"sync"
	"sync/atomic"
)

// Notifier tells waiting sync requests that the event stream has moved on.
// The event path calls Advance after every commit; a long-polling /sync
// calls Wait with the position it has already delivered.
//
// All waiters share one channel that is closed and replaced on every
// advance, so waking N syncing clients costs one close, and the clients then
// read what is new from the in-memory Timeline rather than each querying the
// database.
//
// Read receipts move the stream too, but a client that is shown only
// receipts re-polls at once, so sync answers receipt-only news after a short
// wait for something more (see Service.sync): PokeReceipts wakes the
// waiters of WaitChange but not those of WaitNews, which wait for anything
// but receipts.
type Notifier struct {
	mu      sync.Mutex
	pos     int64
	changed chan struct{}
	// news is closed and replaced on every change but PokeReceipts.
	news chan struct{}
	// stopped is closed by Stop: waiting is over for good.
	stopped  chan struct{}
	stopOnce sync.Once
	waiting  atomic.Int64
	// changes counts every Advance that moved the stream and every poke;
	// newsCount the same without PokeReceipts.
	changes   uint64
	newsCount uint64
}

// NewNotifier returns a notifier starting at stream position pos.
func NewNotifier(pos int64) *Notifier {
	return &Notifier{pos: pos, changed: make(chan struct{}), news: make(chan struct{}), stopped: make(chan struct{})}
}

// Stop ends every current and future Wait at once, as if its context were
// done: at shutdown, long-polling requests answer with what they have
// instead of holding the server up.
func (n *Notifier) Stop() { n.stopOnce.Do(func() { close(n.stopped) }) }

// Waiting returns how many callers are blocked in Wait, WaitChange or
// WaitNews.
func (n *Notifier) Waiting() int { return int(n.waiting.Load()) }

// Advance moves the stream to pos and wakes every waiter. Positions that do
// not move the stream forward are ignored.
func (n *Notifier) Advance(pos int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pos <= n.pos {
		return
	}
	n.pos = pos
	n.bump(true)
}

// bump records a change and wakes its waiters. The caller holds mu.
func (n *Notifier) bump(news bool) {
	n.changes++
	close(n.changed)
	n.changed = make(chan struct{})
	if news {
		n.newsCount++
		close(n.news)
		n.news = make(chan struct{})
	}
}

// Poke wakes every waiter without moving the event stream: another stream
// a sync follows (account data) has moved.
func (n *Notifier) Poke() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bump(true)
}

// PokeReceipts wakes the waiters of WaitChange, not those of WaitNews: the
// receipt stream has moved.
func (n *Notifier) PokeReceipts() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bump(false)
}

// News returns the number of changes other than receipts so far, for
// WaitNews.
func (n *Notifier) News() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.newsCount
}

// WaitNews blocks until there were more than seen changes other than
// receipts or ctx is done, and returns their number.
func (n *Notifier) WaitNews(ctx context.Context, seen uint64) uint64 {
	return n.waitCount(ctx, seen, func() (uint64, chan struct{}) { return n.newsCount, n.news })
}

// Changes returns the number of changes so far (advances and pokes), for
// WaitChange.
func (n *Notifier) Changes() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changes
}

// WaitChange blocks until there were more than seen changes or ctx is
// done, and returns the number of changes.
func (n *Notifier) WaitChange(ctx context.Context, seen uint64) uint64 {
	return n.waitCount(ctx, seen, func() (uint64, chan struct{}) { return n.changes, n.changed })
}

// waitCount blocks until the counter that current reads (with the channel
// closed when it next moves; called under mu) differs from seen, ctx is
// done or the notifier stopped, and returns the counter.
func (n *Notifier) waitCount(ctx context.Context, seen uint64, current func() (uint64, chan struct{})) uint64 {
	n.waiting.Add(1)
	defer n.waiting.Add(-1)
	for {
		n.mu.Lock()
		c, ch := current()
		n.mu.Unlock()
		if c != seen {
			return c
		}
		select {
		case <-ch:
		case <-ctx.Done():
		case <-n.stopped:
		}
		if ctx.Err() != nil || n.isStopped() {
			n.mu.Lock()
			c, _ = current()
			n.mu.Unlock()
			return c
		}
	}
}

// isStopped reports whether Stop was called.
func (n *Notifier) isStopped() bool {
	select {
	case <-n.stopped:
		return true
	default:
		return false
	}
}

// Position returns the newest stream position.
func (n *Notifier) Position() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pos
}

// Wait blocks until the stream is past since or ctx is done (or the
// notifier stopped), and returns the newest position. It waits through
// WaitChange, so both kinds of waiter share one loop.
func (n *Notifier) Wait(ctx context.Context, since int64) int64 {
	for {
		n.mu.Lock()
		pos, seen := n.pos, n.changes
		n.mu.Unlock()
		if pos > since {
			return pos
		}
		if n.WaitChange(ctx, seen) == seen {
			return n.Position() // ctx done or stopped
		}
	}
}
