// Package relations reads the relationships between events that the event
// path records (store's event_relations): the children of an event
// (/relations, with recursion), the threads of a room (/threads), and the
// bundled aggregations (unsigned["m.relations"]) of events served to
// clients: m.thread, m.reference and m.replace. m.annotation (reactions)
// is stored and paginated but, as the spec says, not aggregated. Every
// child event passes the history-visibility rules for the requesting user
// before it is counted or returned.
//
// It never writes: relations are written with their events by room.Service.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#forming-relationships-between-events
package relations

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Relationship types the server aggregates or pages.
const (
	RelThread     = "m.thread"
	RelReference  = "m.reference"
	RelReplace    = "m.replace"
	RelAnnotation = "m.annotation"
)

// MaxRecursionDepth is how many levels of children /relations follows when
// asked to recurse (the spec lets the server choose; Synapse uses 3).
const MaxRecursionDepth = 3

// maxRecursionParents bounds the events whose children a recursive query
// reads, so one request cannot walk a whole room.
const maxRecursionParents = 1000

// maxScan bounds the children one page reads while skipping those the user
// may not see; a page cut short carries a next token.
const maxScan = 2000

// Store is what the service reads. store.DB implements it.
type Store interface {
	room.VisibilityStore
	RelatedEvents(ctx context.Context, f store.RelationFilter, from, to store.TopoPos, dir store.Direction, limit int) ([]store.Event, error)
	RelationsOf(ctx context.Context, roomID id.RoomID, parents []id.EventID, relTypes []string) ([]store.Relation, error)
	RelationsOfParents(ctx context.Context, parents []id.EventID, relTypes []string) ([]store.Relation, error)
	ThreadRoots(ctx context.Context, roomID id.RoomID, participant id.UserID, before int64, limit int) ([]store.ThreadRoot, error)
	EventsByID(ctx context.Context, ids []id.EventID) ([]store.Event, error)
}

var _ Store = (*store.DB)(nil)

// Service answers relationship queries.
type Service struct {
	// DB holds the relations and the events.
	DB Store
	// Ignored, when set, returns the users whose events user ignores
	// (m.ignored_user_list): their children are neither returned nor
	// aggregated.
	Ignored func(ctx context.Context, user id.UserID) (map[id.UserID]bool, error)
}

// Query selects the children of one event.
type Query struct {
	RoomID id.RoomID
	Parent id.EventID
	// RelType and EventType, when not empty, select children of that
	// rel_type and event type.
	RelType, EventType string
	// From and To bound the page in the room's topological order; Dir is
	// the walking direction (the spec's default is backwards, newest
	// first).
	From, To store.TopoPos
	Dir      store.Direction
	Limit    int
	// Recurse includes children of children, up to MaxRecursionDepth.
	Recurse bool
}

// Page is one page of children.
type Page struct {
	Events []store.Event
	// Next is the point from which the following page continues; More
	// reports whether one may exist.
	Next store.TopoPos
	More bool
	// Depth is the recursion depth that was applied (0 without Recurse).
	Depth int
}

// Children returns a page of the children of q.Parent that user may see.
// The caller has checked that the user may see the parent itself.
func (s *Service) Children(ctx context.Context, user id.UserID, q Query) (Page, error) {
	parents := []id.EventID{q.Parent}
	depth := 0
	if q.Recurse {
		var err error
		if parents, depth, err = s.descendants(ctx, q.RoomID, q.Parent); err != nil {
			return Page{}, err
		}
	}
	ignored, err := s.ignored(ctx, user)
	if err != nil {
		return Page{}, err
	}
	f := store.RelationFilter{RoomID: q.RoomID, Parents: parents, RelType: q.RelType, Type: q.EventType}
	after := func(e store.Event) store.TopoPos {
		if q.Dir == store.Backward {
			return store.TopoPosOf(e).Before()
		}
		return store.TopoPosOf(e)
	}
	p := Page{Next: q.From, Depth: depth}
	cursor, scanned := q.From, 0
	for {
		batch, err := s.DB.RelatedEvents(ctx, f, cursor, q.To, q.Dir, q.Limit+1)
		if err != nil {
			return Page{}, err
		}
		if len(batch) == 0 {
			return p, nil
		}
		scanned += len(batch)
		visible, err := room.FilterVisible(ctx, s.DB, user, false, batch)
		if err != nil {
			return Page{}, err
		}
		ok := make(map[int64]bool, len(visible))
		for _, e := range visible {
			ok[e.NID] = !ignored[e.Sender]
		}
		for _, e := range batch {
			if !ok[e.NID] {
				p.Next = after(e)
				continue
			}
			if len(p.Events) == q.Limit {
				p.More = true
				return p, nil
			}
			p.Events = append(p.Events, e)
			p.Next = after(e)
		}
		cursor = after(batch[len(batch)-1])
		if len(batch) < q.Limit+1 {
			return p, nil
		}
		if scanned >= maxScan {
			p.Next, p.More = cursor, true
			return p, nil
		}
	}
}

// descendants returns parent and the events relating to it directly or
// through others, up to MaxRecursionDepth levels, and the depth reached.
func (s *Service) descendants(ctx context.Context, roomID id.RoomID, parent id.EventID) ([]id.EventID, int, error) {
	all := []id.EventID{parent}
	seen := map[id.EventID]bool{parent: true}
	level := []id.EventID{parent}
	depth := 0
	for depth < MaxRecursionDepth && len(level) > 0 && len(all) < maxRecursionParents {
		rels, err := s.DB.RelationsOf(ctx, roomID, level, nil)
		if err != nil {
			return nil, 0, err
		}
		depth++
		level = level[:0:0]
		children, err := s.childIDs(ctx, roomID, rels)
		if err != nil {
			return nil, 0, err
		}
		for _, c := range children {
			if !seen[c] && len(all) < maxRecursionParents {
				seen[c] = true
				all = append(all, c)
				level = append(level, c)
			}
		}
	}
	return all, depth, nil
}

// childIDs returns the event IDs of the children of relations.
func (s *Service) childIDs(ctx context.Context, roomID id.RoomID, rels []store.Relation) ([]id.EventID, error) {
	if len(rels) == 0 {
		return nil, nil
	}
	nids := make([]int64, len(rels))
	for i, r := range rels {
		nids[i] = r.EventNID
	}
	evs, err := s.DB.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("load children in %s: %w", roomID, err)
	}
	out := make([]id.EventID, len(evs))
	for i, e := range evs {
		out[i] = e.EventID
	}
	return out, nil
}

// ignored returns the users whose events user ignores.
func (s *Service) ignored(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	if s.Ignored == nil {
		return nil, nil
	}
	return s.Ignored(ctx, user)
}
