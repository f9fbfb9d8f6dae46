package clientsync

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// A state event in a timeline carries, in unsigned, the state event it
// replaced: prev_content, prev_sender and replaces_state. Clients need
// them to tell a profile change from a join ("changed their display name"
// is a join after a join) and a rename from a first name. The ring's
// entries get theirs from sync's stream consumer, once per state event;
// events read from the store get theirs once the sync answer is built,
// for all its rooms at once (see prevStateBatch).

// prevContent returns the content of a replaced state event for
// unsigned.prev_content: {} when a redaction left none.
func prevContent(p *event.PDU) json.RawMessage {
	if c := event.RawContent(p.JSON()); len(c) > 0 {
		return c
	}
	return json.RawMessage("{}")
}

// replacedStates returns what the state events among evs, stored events
// (their RoomID set, of any rooms), replaced, by their event ID, as
// clients see it (redacted if a redaction applies). Events that replaced
// nothing are left out.
func (s *Service) replacedStates(ctx context.Context, evs []store.Event) (map[id.EventID]*event.PDU, error) {
	prev, err := s.db.ReplacedStateEvents(ctx, evs, nil)
	if err != nil {
		return nil, fmt.Errorf("replaced state events: %w", err)
	}
	if len(prev) == 0 {
		return nil, nil
	}
	// Only the content, sender and ID of a replaced event are shown, so
	// its redaction is applied but not loaded.
	versions := map[id.RoomID]*roomversion.Version{}
	byNID := make(map[int64]*event.PDU, len(prev))
	out := make(map[id.EventID]*event.PDU, len(prev))
	for _, e := range evs {
		p, ok := prev[e.NID]
		if !ok {
			continue
		}
		if byNID[p.NID] == nil {
			v := versions[e.RoomID]
			if v == nil {
				if v, err = s.roomVersion(ctx, e.RoomID); err != nil {
					return nil, err
				}
				versions[e.RoomID] = v
			}
			if byNID[p.NID], err = parseStored(p, v); err != nil {
				return nil, err
			}
		}
		out[e.EventID] = byNID[p.NID]
	}
	return out, nil
}

// prevStateBatch collects the timeline state events of one sync answer
// whose replaced events were not looked up yet (events read from the
// store, and ring entries whose lookup failed), so that flushPrevStates
// looks them up for all rooms at once: an initial sync of a user in many
// rooms reads them in a few queries, not a few per room.
type prevStateBatch struct {
	pending []pendingPrevState
}

// pendingPrevState is a formatted timeline event, tl.Events[idx], waiting
// for its unsigned.prev_content.
type pendingPrevState struct {
	roomID   id.RoomID
	nid      int64 // 0 when not known
	eventID  id.EventID
	typ      string
	stateKey string
	tl       *TimelineBatch
	idx      int
}

// addPrevState shows in ev, a formatted timeline event of it, what the
// state event it replaced, or queues it in req.prevStates when that was
// not looked up yet.
func (req Request) addPrevState(roomID id.RoomID, it item, tl *TimelineBatch, idx int) {
	sk, ok := it.pdu.StateKey()
	switch {
	case !ok:
	case it.replacedKnown:
		setPrevState(&tl.Events[idx], it.replaced)
	default:
		req.prevStates.pending = append(req.prevStates.pending, pendingPrevState{
			roomID: roomID, nid: it.nid, eventID: it.pdu.EventID(), typ: it.pdu.Type(), stateKey: sk, tl: tl, idx: idx})
	}
}

// setPrevState sets the unsigned fields of ev, a timeline state event,
// that show p, the state event it replaced (nil for none).
func setPrevState(ev *clientevent.Event, p *event.PDU) {
	if p == nil {
		return
	}
	ev.Unsigned.PrevContent = prevContent(p)
	ev.Unsigned.PrevSender = string(p.Sender())
	ev.Unsigned.ReplacesState = string(p.EventID())
}

// flushPrevStates looks up what the state events req.prevStates collected
// replaced, for all their rooms at once, and shows it in their formatted
// events.
func (s *Service) flushPrevStates(ctx context.Context, req Request) error {
	if req.prevStates == nil || len(req.prevStates.pending) == 0 {
		return nil
	}
	pending := req.prevStates.pending
	req.prevStates.pending = nil
	evs := make([]store.Event, 0, len(pending))
	var unknown []id.EventID
	for _, p := range pending {
		if p.nid == 0 {
			unknown = append(unknown, p.eventID)
			continue
		}
		e := store.Event{NID: p.nid}
		e.EventID, e.RoomID, e.Type, e.StateKey = p.eventID, p.roomID, p.typ, &p.stateKey
		evs = append(evs, e)
	}
	if len(unknown) > 0 {
		got, err := s.db.EventsByID(ctx, unknown)
		if err != nil {
			return fmt.Errorf("timeline state events: %w", err)
		}
		evs = append(evs, got...)
	}
	replaced, err := s.replacedStates(ctx, evs)
	if err != nil {
		return err
	}
	for _, p := range pending {
		setPrevState(&p.tl.Events[p.idx], replaced[p.eventID])
	}
	return nil
}

// replacedInBatch looks up what the state events of a batch of the event
// stream replaced, for the ring: one set of reads for all the batch's
// rooms (a profile change puts member events in many). It returns them by
// event ID; the events it could not look up (all of them, when a read
// fails) are left out of known, to be looked up when a sync needs them.
func (s *Service) replacedInBatch(ctx context.Context, evs []stream.Event) (replaced map[id.EventID]*event.PDU, known map[id.EventID]bool) {
	var ids []id.EventID
	for _, e := range evs {
		if e.PDU.IsState() {
			ids = append(ids, e.PDU.EventID())
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	stored, err := s.db.EventsByID(ctx, ids)
	if err == nil {
		replaced, err = s.replacedStates(ctx, stored)
	}
	if err != nil {
		if ctx.Err() == nil { // not a shutdown
			s.log.Warn("look up replaced state events for sync", "events", len(ids), "error", err)
		}
		return nil, nil
	}
	known = make(map[id.EventID]bool, len(stored))
	for _, e := range stored {
		known[e.EventID] = true
	}
	return replaced, known
}
