package clientsync

import "github.com/hafenchat/hafen/internal/core/id"

// countedEvent is a notifying event one user's counts hold.
type countedEvent struct {
	pos       int64
	root      id.EventID // thread root; "" in the main timeline
	highlight bool
}

// count records a notifying event apply has added to the counts, dropping
// the oldest record beyond recentEvents.
func (c *unreadCounter) count(e countedEvent) {
	if len(c.counted) >= recentEvents {
		c.uncountedUpTo = max(c.uncountedUpTo, c.counted[0].pos)
		c.counted = append(c.counted[:0], c.counted[1:]...)
	}
	c.counted = append(c.counted, e)
}

// keepCounted keeps the records of the counted events for which keep is
// true.
func (c *unreadCounter) keepCounted(keep func(countedEvent) bool) {
	kept := c.counted[:0]
	for _, e := range c.counted {
		if keep(e) {
			kept = append(kept, e)
		}
	}
	c.counted = kept
}

// recount applies a read receipt (unthreaded, or of the main timeline when
// mainOnly) for the event at stream position pos from the counted events
// alone: the counts become those of the counted events after pos. It
// reports false when the records do not cover the events the receipt
// leaves unread (counts set up from the store after pos, records dropped,
// or a main timeline receipt beside thread counts), leaving the counts
// unchanged, and whether the counts changed.
func (c *unreadCounter) recount(pos int64, mainOnly bool) (recounted, changed bool) {
	if c.uncountedUpTo > pos || mainOnly && len(c.threads) > 0 {
		return false, false
	}
	oldNotify, oldHighlight := c.notify, c.highlight
	c.notify, c.highlight, c.threads = 0, 0, nil
	c.keepCounted(func(e countedEvent) bool { return e.pos > pos })
	for _, e := range c.counted {
		c.notify++
		if e.highlight {
			c.highlight++
		}
		if e.root != "" {
			c.addThread(e.root, e.highlight)
		}
	}
	c.uncountedUpTo = 0
	return true, c.notify != oldNotify || c.highlight != oldHighlight
}

// recentPosition returns the stream position of ev among the room's
// recent events.
func (r *unreadRoom) recentPosition(ev id.EventID) (int64, bool) {
	for i, e := range r.recent {
		if e == ev {
			return r.recentPos[i], true
		}
	}
	return 0, false
}
