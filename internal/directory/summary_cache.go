package directory

import (
	"context"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// summaryMaxAge bounds how long a cached summary is served without being
// read again, for changes that reach a room's current state without an
// event stored in it (a redaction arriving with backfilled history).
const summaryMaxAge = time.Minute

// summaryCache keeps the summaries of the published rooms, each with the
// generation of the room's head it was read at. Every event stored in a
// room advances its generation, so a summary whose room's generation is
// unchanged is still its current one: a directory query reads the
// generations of all published rooms (one query) and the summaries of
// only the rooms that changed since.
type summaryCache struct {
	mu    sync.Mutex
	rooms map[id.RoomID]cachedSummary
}

type cachedSummary struct {
	generation int64
	readAt     time.Time
	summary    *Summary
}

// publishedSummaries returns the summaries of the published rooms the
// store knows, from the cache where their rooms have not changed. The
// summaries are shared: callers must not change them.
func (s *Service) publishedSummaries(ctx context.Context) ([]*Summary, error) {
	rooms, err := s.DB.PublishedRooms(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	c := &s.summaries
	out := make([]*Summary, 0, len(rooms))
	var stale []id.RoomID
	gens := make(map[id.RoomID]int64, len(rooms))
	c.mu.Lock()
	for _, r := range rooms {
		gens[r.RoomID] = r.Generation
		e, ok := c.rooms[r.RoomID]
		if ok && e.generation == r.Generation && now.Sub(e.readAt) < summaryMaxAge {
			out = append(out, e.summary)
		} else {
			stale = append(stale, r.RoomID)
		}
	}
	c.mu.Unlock()
	if len(stale) == 0 {
		return out, nil
	}
	// Read after the generations, a summary is at least as new as the
	// generation it is kept under.
	fresh, err := Summaries(ctx, s.DB, stale)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms == nil {
		c.rooms = make(map[id.RoomID]cachedSummary, len(rooms))
	}
	for roomID := range c.rooms {
		if _, published := gens[roomID]; !published {
			delete(c.rooms, roomID)
		}
	}
	for roomID, sum := range fresh {
		c.rooms[roomID] = cachedSummary{generation: gens[roomID], readAt: now, summary: sum}
		out = append(out, sum)
	}
	return out, nil
}
