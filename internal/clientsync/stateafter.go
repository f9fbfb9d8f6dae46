package clientsync

// Spec: Client-Server API § Syncing, use_state_after (v1.16)
// data/api/client-server/sync.yaml

import (
	"context"
	"fmt"
	"maps"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// stateAfter returns the room state after a stored event, as NIDs: the
// state before it and the event itself if it is a state event.
func (s *Service) stateAfter(ctx context.Context, roomID id.RoomID, it item) (map[store.StateKey]int64, error) {
	nid, err := s.nidOf(ctx, it)
	if err != nil {
		return nil, err
	}
	before, err := s.stateBefore(ctx, roomID, item{nid: nid})
	if err != nil {
		return nil, err
	}
	sk, ok := it.pdu.StateKey()
	if !ok {
		return before, nil
	}
	after := maps.Clone(before)
	after[store.StateKey{Type: it.pdu.Type(), StateKey: sk}] = nid
	return after, nil
}

// stateDeltaAfter returns the state events that differ between the room's
// state at since (stateAtSince) and the state after the event last, the
// end of the timeline: what a use_state_after client that has the room up
// to since lacks, the timeline's own state events included.
func (s *Service) stateDeltaAfter(ctx context.Context, roomID id.RoomID, since int64, last item) ([]item, error) {
	evs, err := s.db.RoomEventsRange(ctx, roomID, since, last.pos, store.Forward, 1)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, nil
	}
	atSince, err := s.stateAtSince(ctx, roomID, since, evs[0])
	if err != nil {
		return nil, err
	}
	atEnd, err := s.stateAfter(ctx, roomID, last)
	if err != nil {
		return nil, err
	}
	return s.changedState(ctx, roomID, atSince, atEnd)
}

// stateAtSince returns, as NIDs, the room's state at since as a client
// that has the room up to since knows it: the state before next, the
// room's first event after since. When next lies above a gap in the
// room's history, the state before it holds the gap's state changes,
// which the client has not had; the state after the room's last event up
// to since is taken then.
func (s *Service) stateAtSince(ctx context.Context, roomID id.RoomID, since int64, next store.Event) (map[store.StateKey]int64, error) {
	if !next.GapBelow {
		return s.stateBefore(ctx, roomID, item{nid: next.NID})
	}
	evs, err := s.db.RoomEventsRange(ctx, roomID, since, 0, store.Backward, 1)
	if err != nil {
		return nil, err
	}
	last, err := s.parse(ctx, roomID, evs)
	if err != nil || len(last) == 0 {
		return map[store.StateKey]int64{}, err
	}
	return s.stateAfter(ctx, roomID, last[0])
}

// changedState loads the events of to that differ from from.
func (s *Service) changedState(ctx context.Context, roomID id.RoomID, from, to map[store.StateKey]int64) ([]item, error) {
	var nids []int64
	for k, n := range to {
		if from[k] != n {
			nids = append(nids, n)
		}
	}
	if len(nids) == 0 {
		return nil, nil
	}
	changed, err := s.db.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("load state delta of %s: %w", roomID, err)
	}
	return s.parse(ctx, roomID, changed)
}

// latestState returns, of the given events, the newest state event per
// state key: the state changes of a whole window of events.
func latestState(items []item) []item {
	latest := map[event.StateKey]item{}
	for _, it := range items {
		if it.pdu.IsState() {
			latest[it.pdu.StateKeyTuple()] = it
		}
	}
	out := make([]item, 0, len(latest))
	for _, it := range latest {
		out = append(out, it)
	}
	return out
}
