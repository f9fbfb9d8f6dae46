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
	"maps"

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
	// Recurse includes children of children, up to MaxRecursionDepth
	// levels below Parent, following only relationships that match
	// RelType and EventType when they are given.
	Recurse bool
}

// Page is one page of children.
type Page struct {
	Events []store.Event
	// Next is the point from which the following page continues; More
	// reports whether one may exist.
	Next store.TopoPos
	More bool
	// Depth, with Recurse, is the depth the recursion reached: the
	// deepest level below the parent (its direct children being level 1,
	// and 1 at least) holding a child the user may see; 0 without Recurse.
	Depth int
}

// Children returns a page of the children of q.Parent that user may see.
// The caller has checked that the user may see the parent itself.
func (s *Service) Children(ctx context.Context, user id.UserID, q Query) (Page, error) {
	ignored, err := s.ignored(ctx, user)
	if err != nil {
		return Page{}, err
	}
	parents := []id.EventID{q.Parent}
	depth := 0
	// judged holds the children descendants has passed through the
	// visibility filter already, so that the pages do not again.
	var judged map[int64]*store.Event
	if q.Recurse {
		if parents, depth, judged, err = s.descendants(ctx, user, ignored, q); err != nil {
			return Page{}, err
		}
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
		shown, err := s.shownJudged(ctx, user, ignored, batch, judged)
		if err != nil {
			return Page{}, err
		}
		for _, e := range batch {
			v, ok := shown[e.NID]
			if !ok {
				p.Next = after(e)
				continue
			}
			if len(p.Events) == q.Limit {
				p.More = true
				return p, nil
			}
			p.Events = append(p.Events, v)
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

// shown returns, by NID, the events of evs that user may see and whose
// sender they do not ignore, as room.FilterVisible serves them.
func (s *Service) shown(ctx context.Context, user id.UserID, ignored map[id.UserID]bool, evs []store.Event) (map[int64]store.Event, error) {
	visible, err := room.FilterVisible(ctx, s.DB, user, false, evs)
	if err != nil {
		return nil, err
	}
	shown := make(map[int64]store.Event, len(visible))
	for _, e := range visible {
		if !ignored[e.Sender] {
			shown[e.NID] = e
		}
	}
	return shown, nil
}

// shownJudged is shown for evs, taking the decisions judged already holds
// (see descendants) and filtering only the other events.
func (s *Service) shownJudged(ctx context.Context, user id.UserID, ignored map[id.UserID]bool, evs []store.Event, judged map[int64]*store.Event) (map[int64]store.Event, error) {
	var rest []store.Event
	out := map[int64]store.Event{}
	for _, e := range evs {
		v, ok := judged[e.NID]
		switch {
		case !ok:
			rest = append(rest, e)
		case v != nil:
			out[e.NID] = *v
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	more, err := s.shown(ctx, user, ignored, rest)
	if err != nil {
		return nil, err
	}
	maps.Copy(out, more)
	return out, nil
}

// descendants returns the parents whose children answer a recursive
// query: q.Parent and the events relating to it directly or through others
// down to MaxRecursionDepth-1 levels, so that no child returned lies more
// than MaxRecursionDepth levels below q.Parent. With a rel_type or event
// type filter only matching relationships are followed: an event related
// to q.Parent only through a non-matching one is not reached, as the spec
// asks. depth is the deepest level (the direct children being level 1, and
// 1 at least) holding a child that user may see, so that it matches the
// events the query can return.
//
// judged maps each child it passed through the visibility filter to what
// the user is served of it, nil for a child not shown.
func (s *Service) descendants(ctx context.Context, user id.UserID, ignored map[id.UserID]bool, q Query) ([]id.EventID, int, map[int64]*store.Event, error) {
	var relTypes []string
	if q.RelType != "" {
		relTypes = []string{q.RelType}
	}
	all := []id.EventID{q.Parent}
	seen := map[id.EventID]bool{q.Parent: true}
	level := []id.EventID{q.Parent}
	depth := 1
	judged := map[int64]*store.Event{}
	for n := 1; n <= MaxRecursionDepth && len(level) > 0; n++ {
		rels, err := s.DB.RelationsOf(ctx, q.RoomID, level, relTypes)
		if err != nil {
			return nil, 0, nil, err
		}
		var nids []int64
		for _, r := range rels {
			if q.EventType == "" || r.Type == q.EventType {
				nids = append(nids, r.EventNID)
			}
		}
		if len(nids) == 0 {
			break
		}
		children, err := s.DB.EventsByNID(ctx, nids)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("load children at depth %d in %s: %w", n, q.RoomID, err)
		}
		shown, err := s.shown(ctx, user, ignored, children)
		if err != nil {
			return nil, 0, nil, err
		}
		level = level[:0:0]
		for _, c := range children {
			judged[c.NID] = nil
			if v, ok := shown[c.NID]; ok {
				depth = n
				judged[c.NID] = &v
			}
			// The children of the last level would lie deeper than
			// MaxRecursionDepth.
			if n < MaxRecursionDepth && !seen[c.EventID] && len(all) < maxRecursionParents {
				seen[c.EventID] = true
				all = append(all, c.EventID)
				level = append(level, c.EventID)
			}
		}
	}
	return all, depth, judged, nil
}

// ignored returns the users whose events user ignores.
func (s *Service) ignored(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	if s.Ignored == nil {
		return nil, nil
	}
	return s.Ignored(ctx, user)
}
