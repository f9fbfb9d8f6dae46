package clientsync

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// A state event in a timeline carries, in unsigned, the state event it
// replaced: prev_content, prev_sender and replaces_state. Clients need
// them to tell a profile change from a join ("changed their display name"
// is a join after a join) and a rename from a first name. The ring's
// entries get theirs from sync's stream consumer, once per state event;
// events read from the store get theirs when their timeline is built.

// prevContent returns the content of a replaced state event for
// unsigned.prev_content: {} when a redaction left none.
func prevContent(p *event.PDU) json.RawMessage {
	if c := event.RawContent(p.JSON()); len(c) > 0 {
		return c
	}
	return json.RawMessage("{}")
}

// replacedStates returns what the state events among evs, stored events of
// one room, replaced, by their event ID, as clients see it (redacted if a
// redaction applies). Events that replaced nothing are left out.
func (s *Service) replacedStates(ctx context.Context, roomID id.RoomID, evs []store.Event) (map[id.EventID]*event.PDU, error) {
	prev, err := s.db.ReplacedStateEvents(ctx, evs, nil)
	if err != nil {
		return nil, fmt.Errorf("replaced state events in %s: %w", roomID, err)
	}
	if len(prev) == 0 {
		return nil, nil
	}
	v, err := s.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	// Only the content, sender and ID of a replaced event are shown, so
	// its redaction is applied but not loaded.
	byNID := make(map[int64]*event.PDU, len(prev))
	for _, p := range prev {
		if byNID[p.NID] != nil {
			continue
		}
		if byNID[p.NID], err = parseStored(p, v); err != nil {
			return nil, err
		}
	}
	out := make(map[id.EventID]*event.PDU, len(prev))
	for _, e := range evs {
		if p, ok := prev[e.NID]; ok {
			out[e.EventID] = byNID[p.NID]
		}
	}
	return out, nil
}

// withReplaced sets what the state events among items, of one room,
// replaced, for those not looked up yet: events read from the store, and
// ring entries whose lookup failed.
func (s *Service) withReplaced(ctx context.Context, roomID id.RoomID, items []item) error {
	var evs []store.Event
	var unknown []id.EventID
	for _, it := range items {
		sk, ok := it.pdu.StateKey()
		if !ok || it.replacedKnown {
			continue
		}
		if it.nid == 0 {
			unknown = append(unknown, it.pdu.EventID())
			continue
		}
		e := store.Event{NID: it.nid}
		e.EventID, e.Type, e.StateKey = it.pdu.EventID(), it.pdu.Type(), &sk
		evs = append(evs, e)
	}
	if len(unknown) > 0 {
		got, err := s.db.EventsByID(ctx, unknown)
		if err != nil {
			return fmt.Errorf("state events of %s: %w", roomID, err)
		}
		evs = append(evs, got...)
	}
	if len(evs) == 0 {
		return nil
	}
	replaced, err := s.replacedStates(ctx, roomID, evs)
	if err != nil {
		return err
	}
	for i := range items {
		if _, ok := items[i].pdu.StateKey(); ok && !items[i].replacedKnown {
			items[i].replaced, items[i].replacedKnown = replaced[items[i].pdu.EventID()], true
		}
	}
	return nil
}

// replacedInBatch looks up what the state events of a batch of the event
// stream replaced, for the ring: one set of reads per room with state
// events in the batch. It returns them by event ID; an event it could not
// look up is left out of known, to be looked up when a sync needs it.
func (s *Service) replacedInBatch(ctx context.Context, evs []stream.Event) (replaced map[id.EventID]*event.PDU, known map[id.EventID]bool) {
	var byRoom map[id.RoomID][]id.EventID
	var rooms []id.RoomID
	for _, e := range evs {
		p := e.PDU
		if !p.IsState() {
			continue
		}
		if byRoom == nil {
			byRoom = map[id.RoomID][]id.EventID{}
		}
		if byRoom[p.RoomID()] == nil {
			rooms = append(rooms, p.RoomID())
		}
		byRoom[p.RoomID()] = append(byRoom[p.RoomID()], p.EventID())
	}
	if len(rooms) == 0 {
		return nil, nil
	}
	replaced, known = map[id.EventID]*event.PDU{}, map[id.EventID]bool{}
	for _, roomID := range rooms {
		stored, err := s.db.EventsByID(ctx, byRoom[roomID])
		var got map[id.EventID]*event.PDU
		if err == nil {
			got, err = s.replacedStates(ctx, roomID, stored)
		}
		if err != nil {
			if ctx.Err() == nil { // not a shutdown
				s.log.Warn("look up replaced state events for sync", "room_id", roomID, "error", err)
			}
			continue
		}
		for _, e := range stored {
			known[e.EventID] = true
			if p := got[e.EventID]; p != nil {
				replaced[e.EventID] = p
			}
		}
	}
	return replaced, known
}
