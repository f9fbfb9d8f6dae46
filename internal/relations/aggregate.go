package relations

// Spec: Client-Server API § Aggregations of child events, § Threading
// (server-side aggregation of m.thread), § Reference relations, § Event
// replacements (server-side aggregation of m.replace, v1.7+)
// https://spec.matrix.org/v1.19/client-server-api/#aggregations-of-child-events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Aggregation is the bundled aggregation of one parent event, before its
// events are formatted.
type Aggregation struct {
	// Thread is set when the event is a thread root with visible replies.
	Thread *ThreadSummary
	// References are the events referencing it (m.reference), oldest
	// first.
	References []id.EventID
	// Replace is the most recent valid replacement (m.replace), if any.
	Replace *store.Event
}

// ThreadSummary is the m.thread aggregation.
type ThreadSummary struct {
	Latest       store.Event
	Count        int
	Participated bool
}

// Empty reports whether there is nothing to bundle.
func (a *Aggregation) Empty() bool {
	return a == nil || a.Thread == nil && len(a.References) == 0 && a.Replace == nil
}

var aggregatedTypes = []string{RelThread, RelReference, RelReplace}

// Aggregations returns the bundled aggregations of events of one room as
// user sees them, by parent event ID. State events get none (as the spec
// says), and a redacted event no replacement. Children the user may not
// see, or sent by users they ignore, are left out. It costs one query when
// no event has children. Events of other rooms are left out.
func (s *Service) Aggregations(ctx context.Context, user id.UserID, roomID id.RoomID, events []store.Event) (map[id.EventID]*Aggregation, error) {
	of := make([]store.Event, 0, len(events))
	for _, e := range events {
		if e.RoomID == roomID {
			of = append(of, e)
		}
	}
	return s.AggregationsAcross(ctx, user, of)
}

// AggregationsAcross is Aggregations for events of any rooms (each
// event's RoomID names its room): the relationships of all of them are
// read in one query, so a sync answer over many rooms pays it once.
func (s *Service) AggregationsAcross(ctx context.Context, user id.UserID, events []store.Event) (map[id.EventID]*Aggregation, error) {
	var parents []id.EventID
	byID := map[id.EventID]store.Event{}
	for _, e := range events {
		if e.StateKey != nil {
			continue
		}
		if _, dup := byID[e.EventID]; !dup {
			parents = append(parents, e.EventID)
			byID[e.EventID] = e
		}
	}
	if len(parents) == 0 {
		return nil, nil
	}
	all, err := s.DB.RelationsOfParents(ctx, parents, aggregatedTypes)
	if err != nil {
		return nil, err
	}
	// A child counts only in its parent's room.
	rels := all[:0]
	for _, r := range all {
		if r.RoomID == byID[r.RelatesTo].RoomID {
			rels = append(rels, r)
		}
	}
	if len(rels) == 0 {
		return nil, nil
	}
	ignored, err := s.ignored(ctx, user)
	if err != nil {
		return nil, err
	}
	nids := make([]int64, 0, len(rels))
	for _, r := range rels {
		if !ignored[r.Sender] {
			nids = append(nids, r.EventNID)
		}
	}
	children, err := s.DB.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("load children: %w", err)
	}
	// History visibility is judged per room.
	byRoom := map[id.RoomID][]store.Event{}
	var rooms []id.RoomID
	for _, c := range children {
		if _, ok := byRoom[c.RoomID]; !ok {
			rooms = append(rooms, c.RoomID)
		}
		byRoom[c.RoomID] = append(byRoom[c.RoomID], c)
	}
	childByNID := make(map[int64]store.Event, len(children))
	for _, roomID := range rooms {
		visible, err := room.FilterVisible(ctx, s.DB, user, false, byRoom[roomID])
		if err != nil {
			return nil, err
		}
		for _, c := range visible {
			childByNID[c.NID] = c
		}
	}
	// Oldest first, so that references keep the room's order and the
	// latest thread event is the last one seen.
	slices.SortFunc(rels, func(a, b store.Relation) int {
		return store.TopoPos{Depth: a.Depth, Stream: a.StreamPos}.Compare(store.TopoPos{Depth: b.Depth, Stream: b.StreamPos})
	})
	out := map[id.EventID]*Aggregation{}
	get := func(p id.EventID) *Aggregation {
		a := out[p]
		if a == nil {
			a = &Aggregation{}
			out[p] = a
		}
		return a
	}
	for _, r := range rels {
		c, ok := childByNID[r.EventNID]
		if !ok {
			continue
		}
		parent := byID[r.RelatesTo]
		switch r.RelType {
		case RelThread:
			a := get(r.RelatesTo)
			if a.Thread == nil {
				a.Thread = &ThreadSummary{Participated: parent.Sender == user}
			}
			a.Thread.Count++
			a.Thread.Latest = c
			if c.Sender == user {
				a.Thread.Participated = true
			}
		case RelReference:
			a := get(r.RelatesTo)
			a.References = append(a.References, c.EventID)
		case RelReplace:
			if !validReplacement(parent, c) {
				continue
			}
			a := get(r.RelatesTo)
			if a.Replace == nil || newerEdit(c, *a.Replace) {
				cc := c
				a.Replace = &cc
			}
		}
	}
	for k, a := range out {
		if a.Empty() {
			delete(out, k)
		}
	}
	return out, nil
}

// validReplacement applies the spec's rules for a replacement event
// (§ Validity of replacement events) as far as the server can see them:
// same room, same sender, same type, neither a state event, the original
// not itself a replacement and not redacted, and an m.new_content object
// unless the replacement is encrypted.
func validReplacement(original, edit store.Event) bool {
	if original.RedactedBecause != "" || edit.RedactedBecause != "" {
		return false
	}
	if original.RoomID != edit.RoomID || original.Sender != edit.Sender || original.Type != edit.Type {
		return false
	}
	if original.StateKey != nil || edit.StateKey != nil {
		return false
	}
	if rt, _, _, ok := room.RelationOf(event.RawContent(original.JSON)); ok && rt == RelReplace {
		return false
	}
	if edit.Type == "m.room.encrypted" {
		return true
	}
	var c struct {
		NewContent json.RawMessage `json:"m.new_content"`
	}
	if json.Unmarshal(event.RawContent(edit.JSON), &c) != nil {
		return false
	}
	return bytes.HasPrefix(bytes.TrimSpace(c.NewContent), []byte("{"))
}

// newerEdit reports whether edit a is more recent than b: by
// origin_server_ts, then by the lexicographically larger event ID.
func newerEdit(a, b store.Event) bool {
	if a.OriginServerTS != b.OriginServerTS {
		return a.OriginServerTS > b.OriginServerTS
	}
	return a.EventID > b.EventID
}

// ThreadsQuery selects threads of a room.
type ThreadsQuery struct {
	RoomID id.RoomID
	// Participated selects only threads the user started or replied to.
	Participated bool
	// Before is the stream position below which the latest activity of
	// the threads lies (0: none), from a next_batch token.
	Before int64
	Limit  int
}

// ThreadsPage is one page of thread roots, latest activity first.
type ThreadsPage struct {
	Roots []store.Event
	// FromIgnored holds the roots sent by users the requesting user
	// ignores, by event ID: the spec has them returned redacted.
	FromIgnored map[id.EventID]bool
	// Next, when not 0, is the Before of the following page.
	Next int64
}

// Threads returns a page of the threads of a room whose root user may see.
// Roots sent by users they ignore stay in the page (their threads may hold
// others' replies) and are listed in FromIgnored.
func (s *Service) Threads(ctx context.Context, user id.UserID, q ThreadsQuery) (ThreadsPage, error) {
	var participant id.UserID
	if q.Participated {
		participant = user
	}
	ignored, err := s.ignored(ctx, user)
	if err != nil {
		return ThreadsPage{}, err
	}
	var p ThreadsPage
	before, scanned := q.Before, 0
	for {
		roots, err := s.DB.ThreadRoots(ctx, q.RoomID, participant, before, q.Limit+1)
		if err != nil {
			return ThreadsPage{}, err
		}
		if len(roots) == 0 {
			return p, nil
		}
		scanned += len(roots)
		ids := make([]id.EventID, len(roots))
		for i, r := range roots {
			ids[i] = r.RootID
		}
		evs, err := s.DB.EventsByID(ctx, ids)
		if err != nil {
			return ThreadsPage{}, fmt.Errorf("load thread roots of %s: %w", q.RoomID, err)
		}
		var inRoom []store.Event
		for _, e := range evs {
			if e.RoomID == q.RoomID && e.ShownToClients() {
				inRoom = append(inRoom, e)
			}
		}
		visible, err := room.FilterVisible(ctx, s.DB, user, false, inRoom)
		if err != nil {
			return ThreadsPage{}, err
		}
		ok := map[id.EventID]store.Event{}
		for _, e := range visible {
			ok[e.EventID] = e
		}
		for _, r := range roots {
			e, seen := ok[r.RootID]
			if !seen {
				continue
			}
			if len(p.Roots) == q.Limit {
				return p, nil // p.Next is the last root returned
			}
			p.Roots = append(p.Roots, e)
			p.Next = r.LatestPos
			if ignored[e.Sender] {
				if p.FromIgnored == nil {
					p.FromIgnored = map[id.EventID]bool{}
				}
				p.FromIgnored[e.EventID] = true
			}
		}
		before = roots[len(roots)-1].LatestPos
		switch {
		case len(roots) < q.Limit+1:
			p.Next = 0
			return p, nil
		case scanned >= maxScan:
			p.Next = before
			return p, nil
		}
	}
}
