package clientsync

// Spec: Client-Server API § Aggregations of child events (bundled in
// /sync when the timeline is limited)
// https://spec.matrix.org/v1.19/client-server-api/#aggregations-of-child-events

import (
	"context"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/relations"
	"github.com/hafenchat/hafen/internal/store"
)

// Aggregator reads bundled aggregations. relations.Service implements it.
type Aggregator interface {
	AggregationsAcross(ctx context.Context, user id.UserID, events []store.Event) (map[id.EventID]*relations.Aggregation, error)
}

var _ Aggregator = (*relations.Service)(nil)

// SetAggregator makes sync add bundled aggregations to limited timelines.
// Call it before the first sync.
func (s *Service) SetAggregator(a Aggregator) { s.aggregator = a }

// bundleBatch collects the limited timelines of one sync answer whose
// bundled aggregations are still to be added, so that one query reads
// the relationships for all its rooms (see flushBundles).
type bundleBatch struct {
	pending []pendingBundle
}

// pendingBundle is one room's limited timeline: its items and their
// formatted events, which flushBundles completes in place.
type pendingBundle struct {
	roomID id.RoomID
	items  []item
	evs    []clientevent.Event
	now    int64
}

// bundle adds the bundled aggregations (unsigned["m.relations"]) to the
// formatted timeline evs of items. The spec asks for them where the
// timeline is limited: a client that follows every event aggregates
// itself, so unlimited timelines, the ring's common case, cost nothing.
// A room's timeline (depth 0) in a sync answer that collects them
// (req.bundles) waits for flushBundles; the children being rendered
// (depth 1) are bundled at once.
func (s *Service) bundle(ctx context.Context, req Request, roomID id.RoomID, items []item, evs []clientevent.Event, now int64, depth int) error {
	if s.aggregator == nil || len(items) == 0 || depth > 1 {
		return nil
	}
	if depth == 0 && req.bundles != nil {
		req.bundles.pending = append(req.bundles.pending, pendingBundle{roomID: roomID, items: items, evs: evs, now: now})
		return nil
	}
	aggs, err := s.aggregator.AggregationsAcross(ctx, req.User, storedItems(roomID, items))
	if err != nil || len(aggs) == 0 {
		return err
	}
	return s.applyBundles(ctx, req, roomID, items, evs, now, depth, aggs, nil)
}

// flushBundles adds the bundled aggregations to the timelines the sync
// answer collected, reading the relationships of all of them at once.
func (s *Service) flushBundles(ctx context.Context, req Request) error {
	if req.bundles == nil || len(req.bundles.pending) == 0 {
		return nil
	}
	pending := req.bundles.pending
	req.bundles.pending = nil
	var stored []store.Event
	for _, p := range pending {
		stored = append(stored, storedItems(p.roomID, p.items)...)
	}
	aggs, err := s.aggregator.AggregationsAcross(ctx, req.User, stored)
	if err != nil || len(aggs) == 0 {
		return err
	}
	// The events rendered in full (a thread's latest event, an edit) get
	// their own aggregations: read those for all rooms at once too.
	var children []store.Event
	for _, a := range aggs {
		if a.Thread != nil {
			children = append(children, a.Thread.Latest)
		}
		if a.Replace != nil {
			children = append(children, *a.Replace)
		}
	}
	childAggs, err := s.aggregator.AggregationsAcross(ctx, req.User, children)
	if err != nil {
		return err
	}
	if childAggs == nil {
		childAggs = map[id.EventID]*relations.Aggregation{}
	}
	for _, p := range pending {
		if err := s.applyBundles(ctx, req, p.roomID, p.items, p.evs, p.now, 0, aggs, childAggs); err != nil {
			return err
		}
	}
	return nil
}

// storedItems returns items as the store events the aggregations read.
func storedItems(roomID id.RoomID, items []item) []store.Event {
	stored := make([]store.Event, len(items))
	for i, it := range items {
		e := store.Event{NID: it.nid, StreamPos: it.pos}
		e.EventID, e.RoomID, e.Type, e.Sender, e.JSON = it.pdu.EventID(), roomID, it.pdu.Type(), it.pdu.Sender(), it.pdu.JSON()
		if sk, ok := it.pdu.StateKey(); ok {
			e.StateKey = &sk
		}
		if it.redactedBecause != nil {
			// Only whether it is redacted matters to the aggregations.
			e.RedactedBecause = "redacted"
		}
		stored[i] = e
	}
	return stored
}

// applyBundles renders the aggregations aggs of items into evs. The
// children rendered in full get theirs from childAggs when the caller
// read them already, else from a query of their own (see bundle).
func (s *Service) applyBundles(ctx context.Context, req Request, roomID id.RoomID, items []item, evs []clientevent.Event, now int64, depth int,
	aggs, childAggs map[id.EventID]*relations.Aggregation) error {
	format := func(ctx context.Context, children []store.Event) ([]clientevent.Event, error) {
		parsed, err := s.parse(ctx, roomID, children)
		if err != nil {
			return nil, err
		}
		out := make([]clientevent.Event, len(parsed))
		for i, it := range parsed {
			out[i] = s.format(req, it, now)
		}
		if childAggs != nil {
			return out, s.applyBundles(ctx, req, roomID, parsed, out, now, depth+1, childAggs, nil)
		}
		return out, s.bundle(ctx, req, roomID, parsed, out, now, depth+1)
	}
	for i, it := range items {
		agg, ok := aggs[it.pdu.EventID()]
		if !ok {
			continue
		}
		raw, err := relations.Render(ctx, agg, format)
		if err != nil {
			return err
		}
		if evs[i].Unsigned == nil {
			evs[i].Unsigned = &clientevent.Unsigned{}
		}
		evs[i].Unsigned.Relations = raw
	}
	return nil
}
