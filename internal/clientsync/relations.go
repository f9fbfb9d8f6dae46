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
	Aggregations(ctx context.Context, user id.UserID, roomID id.RoomID, events []store.Event) (map[id.EventID]*relations.Aggregation, error)
}

var _ Aggregator = (*relations.Service)(nil)

// SetAggregator makes sync add bundled aggregations to limited timelines.
// Call it before the first sync.
func (s *Service) SetAggregator(a Aggregator) { s.aggregator = a }

// bundle adds the bundled aggregations (unsigned["m.relations"]) to the
// formatted timeline evs of items. The spec asks for them where the
// timeline is limited: a client that follows every event aggregates
// itself, so unlimited timelines, the ring's common case, cost nothing.
func (s *Service) bundle(ctx context.Context, req Request, roomID id.RoomID, items []item, evs []clientevent.Event, now int64, depth int) error {
	if s.aggregator == nil || len(items) == 0 || depth > 1 {
		return nil
	}
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
	aggs, err := s.aggregator.Aggregations(ctx, req.User, roomID, stored)
	if err != nil || len(aggs) == 0 {
		return err
	}
	format := func(ctx context.Context, children []store.Event) ([]clientevent.Event, error) {
		parsed, err := s.parse(ctx, roomID, children)
		if err != nil {
			return nil, err
		}
		out := make([]clientevent.Event, len(parsed))
		for i, it := range parsed {
			out[i] = s.format(req, it, now)
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
