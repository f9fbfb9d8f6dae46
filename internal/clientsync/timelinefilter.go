package clientsync

// Spec: Client-Server API § Filtering, § Syncing
// https://spec.matrix.org/v1.19/client-server-api/#filtering
// https://spec.matrix.org/v1.19/client-server-api/#syncing

import (
	"context"
	"slices"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// A timeline filter's limit counts the events the timeline shows, so a
// filter that leaves out most of a room's newest events (a bot that wants
// only m.room.message, a user ignoring a chatty member) fills its timeline
// from further back. The events it leaves out still change the room's
// state: the ones that set a state key last are given in the state section
// (see hiddenStateEnds), so that a client's state comes out right.

// maxFilterReads bounds the reads one filtered timeline makes; a filter
// that matches almost nothing gives a shorter, limited timeline instead
// of reading the room's whole history.
const maxFilterReads = 5

// timelineKeep decides which events a room's timeline shows.
type timelineKeep struct {
	roomID  id.RoomID
	filter  *RoomEventFilter
	ignored map[id.UserID]bool
}

// timelineKeep returns what decides which of a room's events the user's
// timeline shows: the timeline filter and the user's ignore list.
func (s *Service) timelineKeep(ctx context.Context, req Request, roomID id.RoomID) (timelineKeep, error) {
	ignored, err := s.ignoredBy(ctx, req.User)
	if err != nil {
		return timelineKeep{}, err
	}
	return timelineKeep{roomID: roomID, filter: timelineFilter(req.Filter), ignored: ignored}, nil
}

// keeps reports whether the timeline shows it: the filter lets it through
// and its sender is not ignored (an ignored user's state events are shown).
func (k timelineKeep) keeps(it item) bool {
	if k.ignored[it.pdu.Sender()] && !it.pdu.IsState() {
		return false
	}
	return k.filter.MatchEvent(string(k.roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content())
}

// selective reports whether keeps may leave an event out.
func (k timelineKeep) selective() bool {
	f := k.filter
	return len(k.ignored) > 0 || f != nil && (f.Types != nil || f.Senders != nil || len(f.NotTypes) > 0 ||
		len(f.NotSenders) > 0 || f.ContainsURL != nil || !f.MatchRoom(string(k.roomID)))
}

// newest returns where the timeline of items (oldest first) starts: at the
// first of the newest limit events keeps lets through, when more are
// kept before it (more is then true), otherwise at the first item.
func (k timelineKeep) newest(items []item, limit int) (start int, more bool) {
	n := 0
	for i := len(items) - 1; i >= 0; i-- {
		if !k.keeps(items[i]) {
			continue
		}
		if n == limit {
			return start, true
		}
		n++
		start = i
	}
	return 0, false
}

// hiddenStateEnds returns the state events of span (oldest first, a
// timeline's events) that keeps leaves out and that no later event of span
// replaces: the state the room ends with that the timeline does not show.
func (k timelineKeep) hiddenStateEnds(span []item) []item {
	if !k.selective() {
		return nil
	}
	last := map[event.StateKey]int{}
	for i, it := range span {
		if it.pdu.IsState() {
			last[it.pdu.StateKeyTuple()] = i
		}
	}
	var out []item
	for i, it := range span {
		if it.pdu.IsState() && last[it.pdu.StateKeyTuple()] == i && !k.keeps(it) {
			out = append(out, it)
		}
	}
	return out
}

// overlayState returns state with the events of extra in place of the ones
// of the same state keys, and added where state has none.
func overlayState(state, extra []item) []item {
	if len(extra) == 0 {
		return state
	}
	at := make(map[event.StateKey]int, len(state))
	for i, it := range state {
		at[it.pdu.StateKeyTuple()] = i
	}
	out := slices.Clone(state)
	for _, it := range extra {
		if i, ok := at[it.pdu.StateKeyTuple()]; ok {
			out[i] = it
		} else {
			out = append(out, it)
		}
	}
	return out
}

// newestEvents reads a room's newest events in (since, upto], oldest first:
// enough that keeps lets limit+1 of them through when the room has that
// many, in at most maxFilterReads reads. With visible set, only the events
// the user may see are returned (joined: whether the user is joined now),
// and an event the user may not see ends the reading. exhausted reports
// that no event before the returned ones is left to read (or to see).
func (s *Service) newestEvents(ctx context.Context, req Request, roomID id.RoomID, since, upto int64, limit int, keep timelineKeep, visible, joined bool) (items []item, exhausted bool, err error) {
	// The first read takes what an unfiltered timeline needs, the rest
	// (for a filter or an ignore list that leaves events out) more: a
	// user who ignores someone reads no more of the rooms that person is
	// not in.
	chunk, later := limit+1, limit+1
	if keep.selective() {
		later = min(2*limit+10, MaxTimelineLimit)
	}
	maxReads := maxFilterReads
	if !keep.filter.MatchRoom(string(roomID)) {
		maxReads = 1 // the timeline shows none of the room's events
		chunk = later
	}
	kept := 0
	from := upto
	for reads := 1; ; reads++ {
		evs, err := s.db.RoomEventsRange(ctx, roomID, from, since, store.Backward, chunk)
		if err != nil {
			return nil, false, err
		}
		seen, boundary := evs, false
		if visible && len(evs) > 0 {
			if seen, err = s.visibleEvents(ctx, req.User, joined, evs); err != nil {
				return nil, false, err
			}
			// History before an event the user may not see is not
			// theirs either.
			boundary = len(seen) == 0 || seen[len(seen)-1].NID != evs[len(evs)-1].NID
		}
		parsed, err := s.parse(ctx, roomID, seen)
		if err != nil {
			return nil, false, err
		}
		for i, it := range parsed {
			if keep.keeps(it) {
				kept++
			}
			if kept > limit {
				// One kept event more than the timeline shows: enough
				// to tell that it is limited.
				items = append(items, parsed[:i+1]...)
				slices.Reverse(items)
				return items, false, nil
			}
		}
		items = append(items, parsed...)
		if len(evs) < chunk || boundary {
			exhausted = true
			break
		}
		if reads == maxReads {
			break
		}
		from = evs[len(evs)-1].StreamPos - 1
		chunk = later
	}
	slices.Reverse(items)
	return items, exhausted, nil
}
