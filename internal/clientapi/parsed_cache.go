// Spec: Client-Server API § Room event format (the events the read endpoints format; this file keeps them parsed between requests)
// https://spec.matrix.org/v1.19/client-server-api/#room-event-format

package clientapi

import (
	"sync"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// parsedCacheBytes bounds the stored JSON of the events parsedCache
// keeps, per generation.
const parsedCacheBytes = 2 << 20

// parsedCache keeps recently formatted events parsed, by event ID, so that
// the read endpoints asked again for the same part of a room (the state
// at a point of its history, a page of its timeline) do not parse the
// same stored JSON again. A stored event never changes (a redaction is
// applied when formatting), so an entry stays true. The events of a room
// head's current state are not kept here: the head holds them parsed.
//
// It holds two generations: new entries go to cur; once cur's JSON adds up
// to parsedCacheBytes it becomes prev and the old prev is dropped, and a
// hit in prev moves the event to cur. So it keeps at most about twice
// parsedCacheBytes of events, and the ones still asked for stay.
type parsedCache struct {
	mu        sync.Mutex
	cur, prev map[id.EventID]*event.PDU
	curBytes  int
}

// get returns the parsed event, or nil.
func (c *parsedCache) get(eventID id.EventID) *event.PDU {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.cur[eventID]; p != nil {
		return p
	}
	p := c.prev[eventID]
	if p != nil {
		c.addLocked(eventID, p)
	}
	return p
}

// add keeps a parsed event.
func (c *parsedCache) add(eventID id.EventID, p *event.PDU) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(eventID, p)
}

func (c *parsedCache) addLocked(eventID id.EventID, p *event.PDU) {
	if _, ok := c.cur[eventID]; ok {
		return
	}
	if c.cur == nil || c.curBytes >= parsedCacheBytes {
		c.prev, c.cur, c.curBytes = c.cur, make(map[id.EventID]*event.PDU), 0
	}
	c.cur[eventID] = p
	c.curBytes += len(p.JSON())
}
