// Package search answers full-text searches over room events: the terms
// of a request are matched against the backend's full-text index (SQLite
// FTS5, PostgreSQL tsvector, see store's event_search), only in rooms the
// user is or was in, and every match passes the history-visibility rules
// for the user before it is returned.
//
// The index is written off the send path by Indexer, a durable consumer
// of the committed event stream; a search first waits, briefly, for it to
// reach the events committed before the request.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#server-side-search
package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// ErrBadToken is returned for a next_batch token this server did not hand
// out for the request's order.
var ErrBadToken = errors.New("unknown pagination token")

// ErrBadKey is returned for a key that is not content.body, content.name
// or content.topic.
var ErrBadKey = errors.New("unknown search key")

// maxScan is how many matches one request reads, to fill its page while
// skipping those the user may not see and to count what follows it; a
// page cut short by it still carries a next_batch, and a count cut short
// by it is a lower bound.
const maxScan = 1000

// Store is what the service reads of the main database. store.DB
// implements it.
type Store interface {
	room.VisibilityStore
	UserMemberships(ctx context.Context, userID id.UserID, membership string) ([]store.Member, error)
	ForgottenRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error)
}

// IndexStore is what the service reads of the full-text index: the
// derived database (store.DB.Derived).
type IndexStore interface {
	SearchEvents(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error)
}

var (
	_ Store      = (*store.DB)(nil)
	_ IndexStore = (*store.DB)(nil)
)

// Service searches room events.
type Service struct {
	// DB holds the events; IndexDB the full-text index (the derived
	// database).
	DB      Store
	IndexDB IndexStore
	// Index, when set, is the indexer a search waits for, at most
	// IndexWait (0: DefaultIndexWait), before it reads the index: a
	// client finds the messages it sent before searching, and under a
	// longer lag (a server indexing its history after an upgrade) the
	// search answers from what is indexed.
	Index     *Indexer
	IndexWait time.Duration
}

// DefaultIndexWait bounds how long a search waits for the index.
const DefaultIndexWait = 3 * time.Second

// catchUp waits for the index as Service.Index says.
func (s *Service) catchUp(ctx context.Context) error {
	if s.Index == nil {
		return nil
	}
	wait := s.IndexWait
	if wait <= 0 {
		wait = DefaultIndexWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := s.Index.CatchUp(wctx); err != nil && ctx.Err() != nil {
		return fmt.Errorf("wait for search index: %w", ctx.Err())
	}
	return nil
}

// Request is a search of room events.
type Request struct {
	User id.UserID
	// Term is the search string.
	Term string
	// Keys are the content keys searched; none means all three.
	Keys []string
	// Rooms, when not nil, limits the search to these rooms (of those the
	// user is or was in); NotRooms excludes rooms.
	Rooms, NotRooms []id.RoomID
	// Recent orders by arrival, newest first; otherwise by rank.
	Recent bool
	Limit  int
	// Next is the next_batch token of a previous page, or empty: the
	// search's own or one of a group's (see Result), which restricts the
	// search to that group.
	Next string
	// Match, when set, filters matches further (the request's filter).
	Match func(e store.Event) bool
}

// Result is one page of matches.
type Result struct {
	Hits []store.SearchHit
	// Count estimates the results of the search: those returned before
	// this page (as its token says), this page's, and those that follow
	// it within the matches the request reads (see maxScan). It counts
	// what paging would return: the matches that pass the filter (Match
	// and a group's restriction) and the history-visibility rules for
	// the user, as the page's hits do.
	Count int
	// Highlights are the terms searched for.
	Highlights []string
	// Next is the next_batch token, empty on the last page.
	Next string
	// RoomNext and SenderNext are the next_batch tokens of the groups of
	// the page's hits by room and by sender: each continues the search
	// from where Next does, restricted to its group. A group that has no
	// more results, as far as the request read, has none.
	RoomNext   map[id.RoomID]string
	SenderNext map[id.UserID]string
	// Joined lists the rooms searched that the user is joined to now.
	Joined map[id.RoomID]bool
}

// Search returns one page of the events matching r that the user may
// see, with the count and the groups' tokens (see Result).
//
// One request reads, in one query, the next maxScan matches: those that
// fill the page and those after it, which are only counted. What the user
// may see is decided the same way for both, so the count is what paging
// through the search would return, up to that bound.
func (s *Service) Search(ctx context.Context, r Request) (Result, error) {
	res := Result{Highlights: store.SearchTerms(r.Term), Joined: map[id.RoomID]bool{}}
	types, err := keyTypes(r.Keys)
	if err != nil {
		return Result{}, err
	}
	q := store.SearchQuery{Terms: res.Highlights, Types: types, Recent: r.Recent}
	var cur cursor
	if r.Next != "" {
		if cur, err = parseToken(r.Next, r.Recent); err != nil {
			return Result{}, err
		}
	}
	q.Before, q.Offset = cur.before, cur.offset
	members, err := s.rooms(ctx, r)
	if err != nil {
		return Result{}, err
	}
	var rooms []id.RoomID
	for _, m := range members {
		if m.Membership == room.MembershipJoin {
			res.Joined[m.RoomID] = true
		}
		// By recency, a group's room narrows the query itself: positions
		// are the same in every room. By rank, the offset counts the
		// matches of all rooms, so the group is a filter (match).
		if q.Recent && cur.room != "" && m.RoomID != cur.room {
			continue
		}
		rooms = append(rooms, m.RoomID)
	}
	q.Rooms = rooms
	if len(q.Terms) == 0 || len(rooms) == 0 || r.Limit <= 0 {
		return res, nil
	}
	if err := s.catchUp(ctx); err != nil {
		return Result{}, err
	}
	match := func(e store.Event) bool {
		return (cur.room == "" || e.RoomID == cur.room) && (cur.sender == "" || e.Sender == cur.sender) &&
			(r.Match == nil || r.Match(e))
	}
	// next is where the next page starts: past the page's hits and the
	// hidden matches after them, up to the first visible match left out.
	next := cur
	var after int // visible matches after the page
	moreRooms, moreSenders := map[id.RoomID]bool{}, map[id.UserID]bool{}
	q.Limit = maxScan
	hits, err := s.IndexDB.SearchEvents(ctx, q)
	if err != nil {
		return Result{}, err
	}
	visible, err := s.visible(ctx, r.User, match, res.Joined, hits)
	if err != nil {
		return Result{}, err
	}
	for _, h := range hits {
		if q.Recent {
			q.Before = h.StreamPos
		} else {
			q.Offset++
		}
		if visible[h.NID] {
			if len(res.Hits) < r.Limit {
				res.Hits = append(res.Hits, h)
			} else {
				after++
				moreRooms[h.RoomID], moreSenders[h.Sender] = true, true
			}
		}
		if after == 0 {
			next.before, next.offset = q.Before, q.Offset
		}
	}
	done := len(hits) < maxScan
	res.Count = cur.seen + len(res.Hits) + after
	if done && after == 0 {
		return res, nil // nothing left to page through
	}
	next.seen = cur.seen + len(res.Hits)
	res.Next = next.token(q.Recent)
	// The groups' tokens start where the page's does. A group's count
	// carries on from the request's when the request is that group's
	// already; otherwise it starts with the group's hits on this page
	// (exact on a first page).
	res.RoomNext, res.SenderNext = map[id.RoomID]string{}, map[id.UserID]string{}
	for _, h := range res.Hits {
		if _, ok := res.RoomNext[h.RoomID]; !ok && (!done || moreRooms[h.RoomID]) {
			g := next
			g.room, g.seen = h.RoomID, countIn(res.Hits, func(e store.Event) bool { return e.RoomID == h.RoomID })
			if cur.room == h.RoomID {
				g.seen += cur.seen
			}
			res.RoomNext[h.RoomID] = g.token(q.Recent)
		}
		if _, ok := res.SenderNext[h.Sender]; !ok && (!done || moreSenders[h.Sender]) {
			g := next
			g.sender, g.seen = h.Sender, countIn(res.Hits, func(e store.Event) bool { return e.Sender == h.Sender })
			if cur.sender == h.Sender {
				g.seen += cur.seen
			}
			res.SenderNext[h.Sender] = g.token(q.Recent)
		}
	}
	return res, nil
}

// countIn returns how many of hits pass f.
func countIn(hits []store.SearchHit, f func(e store.Event) bool) int {
	n := 0
	for _, h := range hits {
		if f(h.Event) {
			n++
		}
	}
	return n
}

// keyTypes returns the event types whose text the keys search.
func keyTypes(keys []string) ([]string, error) {
	if len(keys) == 0 {
		keys = []string{"content.body", "content.name", "content.topic"}
	}
	var out []string
	for _, k := range keys {
		t, ok := room.SearchKeyTypes[k]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrBadKey, k)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// rooms returns the user's memberships of the rooms searched: those the
// user is joined to or has left (or was banned from) and not forgotten,
// within r.Rooms and outside r.NotRooms.
func (s *Service) rooms(ctx context.Context, r Request) ([]store.Member, error) {
	forgotten, err := s.DB.ForgottenRooms(ctx, r.User)
	if err != nil {
		return nil, err
	}
	var out []store.Member
	for _, m := range []string{room.MembershipJoin, room.MembershipLeave, room.MembershipBan} {
		ms, err := s.DB.UserMemberships(ctx, r.User, m)
		if err != nil {
			return nil, fmt.Errorf("rooms of %s: %w", r.User, err)
		}
		for _, mm := range ms {
			if r.Rooms != nil && !slices.Contains(r.Rooms, mm.RoomID) || slices.Contains(r.NotRooms, mm.RoomID) ||
				m != room.MembershipJoin && slices.Contains(forgotten, mm.RoomID) {
				continue
			}
			out = append(out, mm)
		}
	}
	return out, nil
}

// visible returns the NIDs of the hits the user may see that pass match.
func (s *Service) visible(ctx context.Context, user id.UserID, match func(store.Event) bool, joined map[id.RoomID]bool,
	hits []store.SearchHit) (map[int64]bool, error) {
	byRoom := map[id.RoomID][]store.Event{}
	for _, h := range hits {
		if match(h.Event) {
			byRoom[h.RoomID] = append(byRoom[h.RoomID], h.Event)
		}
	}
	out := map[int64]bool{}
	for roomID, evs := range byRoom {
		vis, err := room.FilterVisible(ctx, s.DB, user, joined[roomID], evs)
		if err != nil {
			return nil, err
		}
		for _, e := range vis {
			// An erased user's event is served redacted to this user:
			// that it matched would tell what it said.
			if !e.Erased {
				out[e.NID] = true
			}
		}
	}
	return out, nil
}
