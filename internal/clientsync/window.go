package clientsync

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// window is what an incremental sync knows of one room's events in
// (since, pos].
type window struct {
	// items are the window's events, oldest first: all of them when
	// complete, else the newest (more than the timeline holds, so that a
	// limited timeline is noticed).
	items    []item
	complete bool
	// own are the user's own member events in the window, oldest first,
	// always all of them.
	own []item
}

// windows returns, for each room the user is or was in that has events in
// (since, pos], its window: from the ring when it still covers since, else
// from the store.
func (s *Service) windows(ctx context.Context, req Request, ms map[id.RoomID]string, since, pos int64) (map[id.RoomID]*window, error) {
	user := req.User
	out := map[id.RoomID]*window{}
	if entries, ok := s.timeline.Range(since, pos); ok {
		for i, e := range entries {
			roomID := e.pdu.RoomID()
			if _, member := ms[roomID]; !member {
				continue
			}
			w := out[roomID]
			if w == nil {
				// Room for a few events at once (most windows of a
				// long poll hold a few), never for more than remain.
				w = &window{complete: true, items: make([]item, 0, min(len(entries)-i, 16))}
				out[roomID] = w
			}
			w.items = append(w.items, item{pos: e.pos, pdu: e.pdu, txnDevice: e.txnDevice, txnID: e.txnID,
				replaced: e.replaced, replacedKnown: e.replacedKnown, gapBelow: e.gapBelow})
		}
		now := s.now().UnixMilli()
		for _, w := range out {
			w.items = redactInWindow(w.items, now)
			for _, it := range w.items {
				if it.pdu.IsStateKey("m.room.member", string(user)) {
					w.own = append(w.own, it)
				}
			}
		}
		return out, nil
	}
	return s.windowsFromStore(ctx, req, since, pos)
}

// windowsFromStore reads the windows of an incremental sync the ring no
// longer covers (a client returning after a while, or any client after a
// restart): only rooms with events in the window are visited, each with
// a read of its newest events, bounded by the timeline limit (see
// readWindow); the user's own membership changes come from the memberships
// table (which rooms changed after since) and the member events of those
// rooms, however old in the window.
func (s *Service) windowsFromStore(ctx context.Context, req Request, since, pos int64) (map[id.RoomID]*window, error) {
	user := req.User
	changed, err := s.db.RoomsWithEventsInRange(ctx, user, since, pos)
	if err != nil {
		return nil, err
	}
	out := make(map[id.RoomID]*window, len(changed))
	if len(changed) == 0 {
		return out, nil
	}
	ownChanged, err := s.db.UserMembershipsSince(ctx, user, since)
	if err != nil {
		return nil, fmt.Errorf("load membership changes of %s: %w", user, err)
	}
	moved := map[id.RoomID]bool{}
	for _, m := range ownChanged {
		moved[m.RoomID] = true
	}
	for _, roomID := range changed {
		w, err := s.readWindow(ctx, req, roomID, since, pos)
		if err != nil {
			return nil, err
		}
		if moved[roomID] {
			evs, err := s.db.MemberEventsInRange(ctx, roomID, user, since, pos)
			if err != nil {
				return nil, err
			}
			if w.own, err = s.parse(ctx, roomID, evs); err != nil {
				return nil, err
			}
		}
		out[roomID] = w
	}
	return out, nil
}

// readWindow reads the newest events of a room in (since, upto]: up to one
// more than the timeline shows, which tells whether it is limited.
func (s *Service) readWindow(ctx context.Context, req Request, roomID id.RoomID, since, upto int64) (*window, error) {
	keep, err := s.timelineKeep(ctx, req, roomID)
	if err != nil {
		return nil, err
	}
	items, complete, err := s.newestEvents(ctx, req, roomID, since, upto, timelineLimit(timelineFilter(req.Filter)), keep, false, false)
	if err != nil {
		return nil, err
	}
	return &window{items: items, complete: complete}, nil
}

// windowUpTo returns the part of a room's window up to and including
// stream position upto (the user's leave), oldest first.
func (s *Service) windowUpTo(ctx context.Context, req Request, roomID id.RoomID, w *window, since, upto int64) (*window, error) {
	var out *window
	if w.complete {
		out = &window{complete: true}
		for _, it := range w.items {
			if it.pos <= upto {
				out.items = append(out.items, it)
			}
		}
	} else {
		// Only the newest events are at hand, and older ones up to upto
		// may be missing from them: read up to upto.
		var err error
		if out, err = s.readWindow(ctx, req, roomID, since, upto); err != nil {
			return nil, err
		}
	}
	for _, it := range w.own {
		if it.pos <= upto {
			out.own = append(out.own, it)
		}
	}
	return out, nil
}

// stateDelta returns the state events that differ between the room's
// state at since (stateAtSince) and the state before the event first, the
// start of a limited timeline: what a client that has the room up to since
// lacks, however many events lie between.
func (s *Service) stateDelta(ctx context.Context, roomID id.RoomID, since int64, first item) ([]item, error) {
	evs, err := s.db.RoomEventsRange(ctx, roomID, since, first.pos, store.Forward, 1)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].StreamPos == first.pos && !evs[0].GapBelow {
		return nil, nil // nothing was left out
	}
	atSince, err := s.stateAtSince(ctx, roomID, since, evs[0])
	if err != nil {
		return nil, err
	}
	nid, err := s.nidOf(ctx, first)
	if err != nil {
		return nil, err
	}
	atStart, err := s.stateBefore(ctx, roomID, item{nid: nid})
	if err != nil {
		return nil, err
	}
	return s.changedState(ctx, roomID, atSince, atStart)
}
