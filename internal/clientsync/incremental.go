package clientsync

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
)

// incremental computes what is new for the user in (since, pos].
func (s *Service) incremental(ctx context.Context, req Request, since, pos int64) (*Response, error) {
	resp := &Response{NextBatch: Token(pos), Rooms: newRooms()}
	if pos <= since && !req.FullState {
		return resp, nil
	}
	ms, err := s.memberships(ctx, req.User)
	if err != nil {
		return nil, err
	}
	req.bundles = &bundleBatch{}
	req.prevStates = &prevStateBatch{}
	byRoom, err := s.windows(ctx, req, ms, since, pos)
	if err != nil {
		return nil, err
	}
	// forgotten is read only when a left room is about to be sent, which
	// incremental syncs seldom do.
	var forgotten map[id.RoomID]bool
	for roomID, w := range byRoom {
		if !req.Filter.Room.MatchRoom(string(roomID)) {
			continue
		}
		own := w.own
		membership := ms[roomID]
		if len(own) == 0 {
			if membership == "join" {
				if err := s.addIncrementalJoined(ctx, req, resp.Rooms, roomID, w, since); err != nil {
					return nil, err
				}
			}
			continue
		}
		last := own[len(own)-1]
		membership = authrules.Membership(last.pdu.Content())
		if membership == "leave" || membership == "ban" {
			if forgotten == nil {
				if forgotten, err = s.forgotten(ctx, req.User); err != nil {
					return nil, err
				}
			}
			if forgotten[roomID] {
				continue
			}
		}
		nid, err := s.nidOf(ctx, own[0])
		if err != nil {
			return nil, err
		}
		before, err := s.membershipBefore(ctx, req.User, nid)
		if err != nil {
			return nil, err
		}
		// stayed: the user was joined at since and every change in the
		// window up to the last kept them joined (a profile change).
		stayed := before == "join"
		for _, it := range own[:len(own)-1] {
			stayed = stayed && authrules.Membership(it.pdu.Content()) == "join"
		}
		switch {
		case membership == "join" && stayed:
			err = s.addIncrementalJoined(ctx, req, resp.Rooms, roomID, w, since)
		case membership == "join":
			// A new join (or a rejoin): the room in full.
			err = s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, nil)
			resp.joined = append(resp.joined, roomID)
		case (membership == "leave" || membership == "ban") && stayed:
			// The client has the room up to since: send what happened
			// from there up to the leave.
			var upto *window
			if upto, err = s.windowUpTo(ctx, req, roomID, w, since, last.pos); err == nil {
				err = s.addIncrementalLeft(ctx, req, resp.Rooms, roomID, upto, since)
			}
		case membership == "leave" || membership == "ban":
			err = s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, &last)
		default:
			err = s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, nil)
		}
		if err != nil {
			return nil, err
		}
	}
	if req.FullState {
		// full_state: every joined room gets its full state even if
		// nothing happened in it; its timeline is still bounded by since.
		for roomID, membership := range ms {
			if _, done := resp.Rooms.Join[string(roomID)]; done || membership != "join" || !req.Filter.Room.MatchRoom(string(roomID)) {
				continue
			}
			if err := s.addIncrementalJoined(ctx, req, resp.Rooms, roomID, &window{complete: true}, since); err != nil {
				return nil, err
			}
		}
	}
	if err := s.flushBundles(ctx, req); err != nil {
		return nil, err
	}
	if err := s.flushPrevStates(ctx, req); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) nidOf(ctx context.Context, it item) (int64, error) {
	if it.nid != 0 {
		return it.nid, nil
	}
	ev, err := s.db.Event(ctx, it.pdu.EventID())
	if err != nil {
		return 0, fmt.Errorf("load event %s: %w", it.pdu.EventID(), err)
	}
	return ev.NID, nil
}

// addIncrementalJoined adds a joined room whose membership did not change:
// the new events as timeline, and when they exceed the limit, the state
// changes in the part left out (with full_state, the whole state at the
// start of the timeline).
func (s *Service) addIncrementalJoined(ctx context.Context, req Request, rooms *Rooms, roomID id.RoomID, w *window, since int64) error {
	jr := newJoinedRoom()
	timeline, summaryChanged, err := s.incrementalBatch(ctx, req, roomID, w, since, &jr.State, &jr.Timeline, true)
	if err != nil {
		return err
	}
	if !req.FullState {
		if err := s.addLazyMembers(ctx, req, roomID, jr, timeline, s.now().UnixMilli()); err != nil {
			return err
		}
	}
	counts, changed, fresh, err := s.unreadFor(ctx, req.User, roomID)
	if err != nil {
		return err
	}
	if req.FullState || fresh || changed > since {
		jr.setUnread(req, counts)
	}
	if req.FullState || summaryChanged {
		sum, heroes, err := s.summary(ctx, req.User, roomID)
		if err != nil {
			return err
		}
		jr.Summary = sum
		s.addHeroMembers(req, jr, heroes, s.now().UnixMilli())
	}
	// An empty timeline gets its prev_batch with the rest (fillPrevBatch).
	sortState(jr.State.Events)
	rooms.Join[string(roomID)] = jr
	return nil
}

// addIncrementalLeft adds a room the user left (or was removed from) since
// the last sync while joined: the events from since up to the leave.
func (s *Service) addIncrementalLeft(ctx context.Context, req Request, rooms *Rooms, roomID id.RoomID, w *window, since int64) error {
	lr := &LeftRoom{State: StateBatch{Events: []clientevent.Event{}}, Timeline: TimelineBatch{Events: []clientevent.Event{}}, AccountData: EventBatch{Events: emptyRaw()}}
	if _, _, err := s.incrementalBatch(ctx, req, roomID, w, since, &lr.State, &lr.Timeline, false); err != nil {
		return err
	}
	sortState(lr.State.Events)
	rooms.Leave[string(roomID)] = lr
	return nil
}

// incrementalBatch fills state and timeline from a room's window since the
// last sync and returns the timeline's events, and whether the window
// holds an event that may change the room summary (changesSummary).
func (s *Service) incrementalBatch(ctx context.Context, req Request, roomID id.RoomID, w *window, since int64, state *StateBatch, tl *TimelineBatch, joined bool) ([]item, bool, error) {
	limit := timelineLimit(timelineFilter(req.Filter))
	keep, err := s.timelineKeep(ctx, req, roomID)
	if err != nil {
		return nil, false, err
	}
	start, more := keep.newest(w.items, limit)
	start = startAtGap(w.items, start)
	skipped, items := w.items[:start], w.items[start:]
	// A window that lacks the oldest events since the last sync may lack
	// events the timeline shows; one with an event above a gap lacks the
	// gap's events (see startAtGap). Only a whole window holds every
	// state change since the last sync.
	whole := w.complete && !hasGap(w.items)
	tl.Limited = more || !whole
	// The summary changes with the members, and its heroes with the
	// room's name and canonical alias: a room that loses them needs its
	// heroes ("Required if the room's m.room.name or
	// m.room.canonical_alias state events are unset or empty"). The
	// events left out of the timeline count too.
	summaryChanged := false
	for _, it := range w.items {
		summaryChanged = summaryChanged || changesSummary(it)
	}
	now := s.now().UnixMilli()
	timeline, err := s.appendTimeline(ctx, req, roomID, keep, items, joined, now, tl)
	if err != nil {
		return nil, false, err
	}
	if tl.Limited {
		if err := s.bundle(ctx, req, roomID, timeline, tl.Events[len(tl.Events)-len(timeline):], now, 0); err != nil {
			return nil, false, err
		}
	}
	if len(items) > 0 {
		tl.PrevBatch = Token(items[0].pos - 1)
	}
	// The state between since and the start of the timeline: in a whole
	// window, the newest state event per key among the events left out;
	// otherwise the difference between the state at since and the state
	// before the timeline, from their state groups.
	//
	// With use_state_after, the state between since and the end of the
	// timeline, the timeline's own state events included: in a window
	// that holds every event since, the newest state event per key;
	// otherwise from the state groups at since and after the last event.
	var delta []item
	switch {
	case req.FullState:
	case req.UseStateAfter && (whole || !tl.Limited):
		delta = latestState(w.items)
	case req.UseStateAfter:
		var err error
		if delta, err = s.stateDeltaAfter(ctx, roomID, since, items[len(items)-1]); err != nil {
			return nil, false, err
		}
	case tl.Limited && whole:
		delta = latestState(skipped)
	case tl.Limited:
		var err error
		if delta, err = s.stateDelta(ctx, roomID, since, items[0]); err != nil {
			return nil, false, err
		}
	}
	// The state events the filter leaves out of the timeline that the
	// room ends with: with use_state_after the state already ends there.
	var hidden []item
	if !req.UseStateAfter {
		hidden = keep.hiddenStateEnds(items)
		delta = overlayState(delta, hidden)
	}
	for _, it := range delta {
		summaryChanged = summaryChanged || changesSummary(it)
	}
	if req.FullState {
		var first *item
		switch {
		case len(items) > 0 && req.UseStateAfter:
			first = &items[len(items)-1]
		case len(items) > 0:
			first = &items[0]
		}
		full, err := s.fullState(ctx, req, roomID, first, hidden, timeline, joined)
		if err != nil {
			return nil, false, err
		}
		state.Events = append(state.Events, full...)
		return timeline, summaryChanged, nil
	}
	sf := stateFilter(req.Filter)
	for _, it := range delta {
		if sf.MatchEvent(string(roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content()) {
			state.Events = append(state.Events, s.format(req, it, now))
		}
	}
	return timeline, summaryChanged, nil
}

// changesSummary reports whether a state event may change a room's summary:
// a member event, or the name or canonical alias, whose absence makes the
// heroes required.
func changesSummary(it item) bool {
	return it.pdu.Type() == "m.room.member" || it.pdu.IsStateKey("m.room.name", "") || it.pdu.IsStateKey("m.room.canonical_alias", "")
}
