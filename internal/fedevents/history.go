package fedevents

// Spec: Server-Server API § Backfilling and retrieving missing events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// Limits of the history endpoints.
const (
	// MaxBackfill is the most events one backfill returns.
	// NOTSPEC: the spec sets no maximum; Synapse caps it at 100 too.
	MaxBackfill = 100
	// DefaultMissingEvents is get_missing_events' default limit (the spec's).
	DefaultMissingEvents = 10
	// MaxMissingEvents is the most events one get_missing_events returns.
	// NOTSPEC: the spec sets no maximum; Synapse caps it at 20.
	MaxMissingEvents = 20
)

// Backfill returns up to limit events of roomID for server: the events of
// from and those before them, walking prev_events deepest first. Events
// the room's history visibility hides from server are served redacted.
// Errors wrap room.ErrRoomNotFound, ErrDeniedByACL or ErrBadRequest.
func (s *Service) Backfill(ctx context.Context, server id.ServerName, roomID id.RoomID, from []id.EventID, limit int) ([]json.RawMessage, error) {
	if limit < 1 || len(from) == 0 {
		return nil, fmt.Errorf("%w: backfill needs events to start from and a positive limit", ErrBadRequest)
	}
	limit = min(limit, MaxBackfill)
	v, err := s.roomVersionFor(ctx, roomID, server)
	if err != nil {
		return nil, err
	}
	w := &walker{s: s, roomID: roomID, v: v, seen: map[id.EventID]bool{}}
	if err := w.push(ctx, from); err != nil {
		return nil, err
	}
	var out []store.Event
	for len(out) < limit && len(w.queue) > 0 {
		e := w.pop()
		out = append(out, e.stored)
		if err := w.push(ctx, e.pdu.PrevEvents()); err != nil {
			return nil, err
		}
	}
	return s.servable(ctx, server, v, out)
}

// MissingEventsRequest is the body of get_missing_events.
type MissingEventsRequest struct {
	EarliestEvents []id.EventID
	LatestEvents   []id.EventID
	Limit          int
	MinDepth       int64
}

// MissingEvents walks the prev_events of the latest events breadth-first,
// skipping the earliest events (and not walking past them), and returns
// up to the limit events of at least the minimum depth, oldest first.
// The latest events must be in the room; events the history visibility
// hides from server are served redacted. Errors wrap
// room.ErrRoomNotFound, ErrDeniedByACL or ErrEventNotFound.
func (s *Service) MissingEvents(ctx context.Context, server id.ServerName, roomID id.RoomID, req MissingEventsRequest) ([]json.RawMessage, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultMissingEvents
	}
	limit = min(limit, MaxMissingEvents)
	v, err := s.roomVersionFor(ctx, roomID, server)
	if err != nil {
		return nil, err
	}
	w := &walker{s: s, roomID: roomID, v: v, seen: map[id.EventID]bool{}}
	for _, e := range req.EarliestEvents {
		w.seen[e] = true
	}
	latest, err := s.DB.EventsByID(ctx, req.LatestEvents)
	if err != nil {
		return nil, fmt.Errorf("load latest events: %w", err)
	}
	var frontier []id.EventID
	for _, e := range latest {
		if e.RoomID != roomID {
			return nil, fmt.Errorf("%w: %s is not in %s", ErrEventNotFound, e.EventID, roomID)
		}
		w.seen[e.EventID] = true
		pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
		if err != nil {
			return nil, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
		}
		frontier = append(frontier, pdu.PrevEvents()...)
	}
	if len(latest) == 0 {
		return nil, fmt.Errorf("%w: none of latest_events is known", ErrEventNotFound)
	}
	var out []store.Event
	for len(frontier) > 0 && len(out) < limit {
		var next []id.EventID
		evs, err := w.load(ctx, frontier)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if len(out) >= limit {
				break
			}
			if e.stored.Depth < req.MinDepth {
				continue
			}
			out = append(out, e.stored)
			next = append(next, e.pdu.PrevEvents()...)
		}
		frontier = next
	}
	slices.SortStableFunc(out, func(a, b store.Event) int { return cmp.Compare(a.Depth, b.Depth) })
	return s.servable(ctx, server, v, out)
}

// servable returns the events as server may have them: as stored if
// visible to it, redacted otherwise, or if their sender was erased and
// no user of server was joined at them (see erasedCopy).
func (s *Service) servable(ctx context.Context, server id.ServerName, v *roomversion.Version, evs []store.Event) ([]json.RawMessage, error) {
	vis := s.visibilityFor(server)
	out := make([]json.RawMessage, 0, len(evs))
	for _, e := range evs {
		ok, err := vis.canSee(ctx, e)
		if err != nil {
			return nil, err
		}
		if ok {
			erased, err := vis.erasedCopy(ctx, e)
			if err != nil {
				return nil, err
			}
			ok = !erased
		}
		if ok {
			out = append(out, e.JSON)
			continue
		}
		red, err := event.Redact(e.JSON, v)
		if err != nil {
			return nil, fmt.Errorf("redact %s: %w", e.EventID, err)
		}
		out = append(out, red)
	}
	return out, nil
}

// walked is an event found by a walker.
type walked struct {
	stored store.Event
	pdu    *event.PDU
}

// walker walks a room's graph: it loads events once each, leaves out
// events of other rooms and rejected ones, and keeps a queue ordered by
// depth, deepest first.
type walker struct {
	s      *Service
	roomID id.RoomID
	v      *roomversion.Version
	seen   map[id.EventID]bool
	queue  []walked
}

// load returns the events among ids not seen before that are stored in
// the room and not rejected, marking them seen.
func (w *walker) load(ctx context.Context, ids []id.EventID) ([]walked, error) {
	var fresh []id.EventID
	for _, eid := range ids {
		if !w.seen[eid] {
			w.seen[eid] = true
			fresh = append(fresh, eid)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	evs, err := w.s.DB.EventsByID(ctx, fresh)
	if err != nil {
		return nil, fmt.Errorf("load events of %s: %w", w.roomID, err)
	}
	out := make([]walked, 0, len(evs))
	for _, e := range evs {
		if e.RoomID != w.roomID || e.Rejected {
			continue
		}
		pdu, err := event.ParseTrusted(e.JSON, w.v, e.EventID)
		if err != nil {
			return nil, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
		}
		out = append(out, walked{stored: e, pdu: pdu})
	}
	return out, nil
}

// push loads events and queues them.
func (w *walker) push(ctx context.Context, ids []id.EventID) error {
	evs, err := w.load(ctx, ids)
	if err != nil {
		return err
	}
	w.queue = append(w.queue, evs...)
	slices.SortStableFunc(w.queue, func(a, b walked) int { return cmp.Compare(b.stored.Depth, a.stored.Depth) })
	return nil
}

// pop takes the deepest queued event.
func (w *walker) pop() walked {
	e := w.queue[0]
	w.queue = w.queue[1:]
	return e
}
