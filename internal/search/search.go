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
	"strconv"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
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

// maxScan bounds the matches one request reads while skipping those the
// user may not see; a page cut short by it still carries a next_batch.
const maxScan = 1000

// Store is what the service reads of the main database. store.DB
// implements it.
type Store interface {
	room.VisibilityStore
	UserMemberships(ctx context.Context, userID id.UserID, membership string) ([]store.Member, error)
	StateReplaces(ctx context.Context, nids []int64) (map[int64]int64, error)
	EventsByNID(ctx context.Context, nids []int64) ([]store.Event, error)
}

// IndexStore is what the service reads of the full-text index: the
// derived database (store.DB.Derived).
type IndexStore interface {
	SearchEvents(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error)
	CountSearch(ctx context.Context, q store.SearchQuery, windows []store.SearchWindow) (int, error)
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
	// Next is the next_batch token of a previous page, or empty.
	Next string
	// Match, when set, filters matches further (the request's filter).
	Match func(e store.Event) bool
}

// Result is one page of matches.
type Result struct {
	Hits []store.SearchHit
	// Count is an estimate of the matches the user may see: those sent
	// while the user was joined (see countWindows).
	Count int
	// Highlights are the terms searched for.
	Highlights []string
	// Next is the next_batch token, empty on the last page.
	Next string
	// Joined lists the rooms searched that the user is joined to now.
	Joined map[id.RoomID]bool
}

// Search returns one page of the events matching r that the user may see.
func (s *Service) Search(ctx context.Context, r Request) (Result, error) {
	res := Result{Highlights: store.SearchTerms(r.Term), Joined: map[id.RoomID]bool{}}
	types, err := keyTypes(r.Keys)
	if err != nil {
		return Result{}, err
	}
	q := store.SearchQuery{Terms: res.Highlights, Types: types, Recent: r.Recent}
	if r.Next != "" {
		if err := parseToken(r.Next, &q); err != nil {
			return Result{}, err
		}
	}
	members, err := s.rooms(ctx, r)
	if err != nil {
		return Result{}, err
	}
	var rooms []id.RoomID
	for _, m := range members {
		rooms = append(rooms, m.RoomID)
		if m.Membership == room.MembershipJoin {
			res.Joined[m.RoomID] = true
		}
	}
	q.Rooms = rooms
	if len(q.Terms) == 0 || len(rooms) == 0 || r.Limit <= 0 {
		return res, nil
	}
	if err := s.catchUp(ctx); err != nil {
		return Result{}, err
	}
	windows, err := s.countWindows(ctx, members)
	if err != nil {
		return Result{}, err
	}
	if res.Count, err = s.IndexDB.CountSearch(ctx, q, windows); err != nil {
		return Result{}, err
	}
	batch := min(max(2*r.Limit, 20), 200)
	scanned := 0
	for {
		q.Limit = batch
		hits, err := s.IndexDB.SearchEvents(ctx, q)
		if err != nil {
			return Result{}, err
		}
		visible, err := s.visible(ctx, r, res.Joined, hits)
		if err != nil {
			return Result{}, err
		}
		for _, h := range hits {
			if visible[h.NID] {
				if len(res.Hits) == r.Limit {
					return res, nil // res.Next continues after the last hit
				}
				res.Hits = append(res.Hits, h)
			}
			if q.Recent {
				q.Before = h.StreamPos
			} else {
				q.Offset++
			}
			res.Next = token(q)
		}
		scanned += len(hits)
		if len(hits) < batch {
			res.Next = ""
			return res, nil
		}
		if scanned >= maxScan {
			return res, nil
		}
	}
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
// user is joined to or has left (or was banned from), within r.Rooms and
// outside r.NotRooms.
func (s *Service) rooms(ctx context.Context, r Request) ([]store.Member, error) {
	var out []store.Member
	for _, m := range []string{room.MembershipJoin, room.MembershipLeave, room.MembershipBan} {
		ms, err := s.DB.UserMemberships(ctx, r.User, m)
		if err != nil {
			return nil, fmt.Errorf("rooms of %s: %w", r.User, err)
		}
		for _, mm := range ms {
			if r.Rooms != nil && !slices.Contains(r.Rooms, mm.RoomID) || slices.Contains(r.NotRooms, mm.RoomID) {
				continue
			}
			out = append(out, mm)
		}
	}
	return out, nil
}

// maxJoinHops bounds how far back countWindows follows a run of join
// events (profile changes are joins too).
const maxJoinHops = 8

// countWindows returns, for the count, the part of each room's timeline
// the user saw as a member: since the start of their current stay for the
// rooms they are in, from the start of their last stay to their leave (or
// ban) for the rooms they left; a room left without having been joined
// just before counts nothing. A stay starts at the first of the run of
// join events (profile changes are joins too) that leads to the current
// or the leave event, followed back at most maxJoinHops events. Events
// sent while the user was joined are visible to them whatever the history
// visibility, so the count never tells of events they may not see; it
// leaves out history they may see from before they joined (shared or
// world_readable) and earlier stays, which the spec's estimate allows.
// Two queries per hop, whatever the number of rooms.
func (s *Service) countWindows(ctx context.Context, members []store.Member) ([]store.SearchWindow, error) {
	type stay struct {
		start  store.Event // the earliest join found so far, or the leave
		leave  *store.Event
		joined bool // start is a join
		done   bool
	}
	nids := make([]int64, 0, len(members))
	for _, m := range members {
		nids = append(nids, m.EventNID)
	}
	cur, err := s.eventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	stays := make([]*stay, 0, len(members))
	for _, m := range members {
		e, ok := cur[m.EventNID]
		if !ok || e.StreamPos == 0 {
			continue
		}
		st := &stay{start: e, joined: m.Membership == room.MembershipJoin}
		if !st.joined {
			st.leave = &e
		}
		stays = append(stays, st)
	}
	for range maxJoinHops + 1 {
		var pending []int64
		for _, st := range stays {
			if !st.done {
				pending = append(pending, st.start.NID)
			}
		}
		if len(pending) == 0 {
			break
		}
		prev, err := s.DB.StateReplaces(ctx, pending)
		if err != nil {
			return nil, fmt.Errorf("earlier memberships: %w", err)
		}
		var prevNIDs []int64
		for _, p := range prev {
			if p != 0 {
				prevNIDs = append(prevNIDs, p)
			}
		}
		evs, err := s.eventsByNID(ctx, prevNIDs)
		if err != nil {
			return nil, err
		}
		for _, st := range stays {
			if st.done {
				continue
			}
			pe, ok := evs[prev[st.start.NID]]
			if !ok || pe.StreamPos == 0 || authrules.Membership(event.RawContent(pe.JSON)) != room.MembershipJoin {
				st.done = true
				continue
			}
			st.start, st.joined = pe, true
		}
	}
	var out []store.SearchWindow
	for _, st := range stays {
		if !st.joined {
			continue
		}
		w := store.SearchWindow{RoomID: st.start.RoomID, AfterStream: st.start.StreamPos, AfterDepth: st.start.Depth}
		if st.leave != nil {
			w.BeforeStream, w.BeforeDepth = st.leave.StreamPos, st.leave.Depth
		}
		out = append(out, w)
	}
	return out, nil
}

// eventsByNID reads events by NID, keyed by NID.
func (s *Service) eventsByNID(ctx context.Context, nids []int64) (map[int64]store.Event, error) {
	out := make(map[int64]store.Event, len(nids))
	if len(nids) == 0 {
		return out, nil
	}
	evs, err := s.DB.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("membership events: %w", err)
	}
	for _, e := range evs {
		out[e.NID] = e
	}
	return out, nil
}

// visible returns the NIDs of the hits the user may see that pass r.Match.
func (s *Service) visible(ctx context.Context, r Request, joined map[id.RoomID]bool, hits []store.SearchHit) (map[int64]bool, error) {
	byRoom := map[id.RoomID][]store.Event{}
	for _, h := range hits {
		if r.Match == nil || r.Match(h.Event) {
			byRoom[h.RoomID] = append(byRoom[h.RoomID], h.Event)
		}
	}
	out := map[int64]bool{}
	for roomID, evs := range byRoom {
		vis, err := room.FilterVisible(ctx, s.DB, r.User, joined[roomID], evs)
		if err != nil {
			return nil, err
		}
		for _, e := range vis {
			out[e.NID] = true
		}
	}
	return out, nil
}

// Tokens: "p<stream position>" continues a search by recency below that
// position, "o<offset>" a search by rank after that many matches.
func token(q store.SearchQuery) string {
	if q.Recent {
		return "p" + strconv.FormatInt(q.Before, 10)
	}
	return "o" + strconv.Itoa(q.Offset)
}

func parseToken(tok string, q *store.SearchQuery) error {
	if len(tok) < 2 {
		return ErrBadToken
	}
	n, err := strconv.ParseInt(tok[1:], 10, 64)
	if err != nil || n < 0 {
		return ErrBadToken
	}
	switch {
	case tok[0] == 'p' && q.Recent:
		q.Before = n
	case tok[0] == 'o' && !q.Recent && n <= maxOffset:
		q.Offset = int(n)
	default:
		return ErrBadToken
	}
	return nil
}

// maxOffset bounds how deep rank order pages.
const maxOffset = 100000
