// Spec: Client-Server API § Receipts
// https://spec.matrix.org/v1.19/client-server-api/#receipts

package clientapi

import (
	"context"
	"errors"
	"sync"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// timelinePlace is where an event of a room's timeline sits. Once an event
// is in the timeline (shown to clients, with a stream position), its
// place never changes.
type timelinePlace struct {
	room       id.RoomID
	pos, depth int64
	// thread is the root of the thread the event is in (its m.thread
	// relation), "" for the main timeline; related tells that it has a
	// relation of another type (a reaction, an edit), whose thread is
	// its parent's.
	thread  id.EventID
	related bool
}

// placeOf returns the place of an event with content at stream position
// pos.
func placeOf(roomID id.RoomID, pos, depth int64, content []byte) timelinePlace {
	pl := timelinePlace{room: roomID, pos: pos, depth: depth}
	if relType, parent, _, ok := room.RelationOf(content); ok {
		if relType == "m.thread" {
			pl.thread = parent
		} else {
			pl.related = true
		}
	}
	return pl
}

// maxTimelinePlaces bounds the cache of timeline places.
const maxTimelinePlaces = 4096

// timelinePlaces caches the places of the events that receipts name: in a
// busy room every member reads every message, so the same few events are
// looked up over and over.
type timelinePlaces struct {
	mu sync.Mutex
	m  map[id.EventID]timelinePlace
	// recent, when set, finds the place of one of the newest events in
	// memory (sync's ring): the first receipt for a new message then
	// costs no read either.
	recent func(id.EventID) (pdu *event.PDU, pos int64, ok bool)
}

// get returns the place of a timeline event; ok is false for an event
// that is unknown or not in the timeline (outliers, rejected and
// soft-failed events), which is not cached.
func (p *timelinePlaces) get(ctx context.Context, db interface {
	Event(ctx context.Context, eventID id.EventID) (store.Event, error)
}, eventID id.EventID) (pl timelinePlace, ok bool, err error) {
	p.mu.Lock()
	pl, ok = p.m[eventID]
	p.mu.Unlock()
	if ok {
		return pl, true, nil
	}
	if p.recent != nil {
		if pdu, pos, ok := p.recent(eventID); ok {
			pl = placeOf(pdu.RoomID(), pos, pdu.Depth(), pdu.Content())
			p.put(eventID, pl)
			return pl, true, nil
		}
	}
	e, err := db.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return timelinePlace{}, false, nil
	}
	if err != nil {
		return timelinePlace{}, false, err
	}
	if !e.ShownToClients() || e.StreamPos <= 0 {
		return timelinePlace{}, false, nil
	}
	pl = placeOf(e.RoomID, e.StreamPos, e.Depth, event.RawContent(e.JSON))
	p.put(eventID, pl)
	return pl, true, nil
}

// put caches the place of an event, starting over when the cache is full.
func (p *timelinePlaces) put(eventID id.EventID, pl timelinePlace) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxTimelinePlaces {
		p.m = map[id.EventID]timelinePlace{}
	}
	p.m[eventID] = pl
}

// joinedBefore reports whether the user, joined to the room, joined before
// the event in the timeline and in the room's history: then the user was
// joined at the event and may see it whatever the history visibility
// (room.FilterVisible decides the same way). False means "ask
// FilterVisible", not "invisible".
func (a *roomAPI) joinedBefore(ctx context.Context, roomID id.RoomID, eventID id.EventID, user id.UserID) (bool, error) {
	member, err := a.memberEvent(ctx, roomID, user)
	if err != nil || member == nil {
		return false, err
	}
	join, ok, err := a.places.get(ctx, a.db, member.EventID())
	if err != nil || !ok {
		return false, err
	}
	target, ok, err := a.places.get(ctx, a.db, eventID)
	if err != nil || !ok {
		return false, err
	}
	return join.room == roomID && target.room == roomID && join.pos < target.pos && join.depth < target.depth, nil
}
