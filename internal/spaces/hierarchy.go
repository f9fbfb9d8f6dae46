package spaces

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// Store is what the walk reads. store.DB implements it.
type Store interface {
	directory.SummaryStore
	CurrentStateEventsOfType(ctx context.Context, roomID id.RoomID, typ string) ([]store.Event, error)
	Membership(ctx context.Context, roomID id.RoomID, userID id.UserID) (store.Member, error)
	RoomMembers(ctx context.Context, roomID id.RoomID) ([]store.Member, error)
}

var _ Store = (*store.DB)(nil)

// Service answers space hierarchies. It is safe for concurrent use.
type Service struct {
	// ServerName is this server's name.
	ServerName id.ServerName
	// DB is read for summaries, children and memberships.
	DB Store
	// Remote asks other servers about rooms this server is not in; nil
	// leaves such rooms out.
	Remote directory.Remote
	// Logger logs remote failures at Debug.
	Logger *slog.Logger
}

// Limits of a walk.
const (
	// DefaultMaxDepth and MaxMaxDepth bound how deep a walk goes.
	DefaultMaxDepth = 10
	MaxMaxDepth     = 50
	// DefaultLimit and MaxLimit bound the rooms of a page.
	DefaultLimit = 50
	MaxLimit     = 100
	// maxRemoteRequests bounds the requests one walk sends to other
	// servers, and maxViaTries the servers asked about one room.
	maxRemoteRequests = 20
	maxViaTries       = 3
)

// Request is a client's hierarchy query.
type Request struct {
	User          id.UserID
	RoomID        id.RoomID
	SuggestedOnly bool
	// MaxDepth is how deep the walk goes (0: the room alone); negative
	// means DefaultMaxDepth.
	MaxDepth int
	// Limit is the number of rooms per page; 0 means DefaultLimit.
	Limit int
	// From is the next_batch of an earlier page.
	From string
}

// Page is one page of a hierarchy.
type Page struct {
	Rooms     []Room `json:"rooms"`
	NextBatch string `json:"next_batch,omitempty"`
}

// token is what a next_batch holds: where the next page starts in the
// walk and the parameters the walk was made with, which must not change.
type token struct {
	Room          id.RoomID `json:"r"`
	Offset        int       `json:"o"`
	SuggestedOnly bool      `json:"s"`
	MaxDepth      int       `json:"d"`
}

func (t token) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (token, error) {
	var t token
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Offset < 0 {
		return token{}, fmt.Errorf("%w: %q", ErrBadToken, s)
	}
	return t, nil
}

// Hierarchy walks the space tree from req.RoomID depth first and returns
// one page of the rooms the user may see: joined or invited, world
// readable, public or knockable, or restricted to a room the user is
// joined to. A room the user may not see is left out with its subtree.
// The root must be a room this server knows that the user may see
// (ErrForbidden otherwise). Rooms this server does not know are asked of
// the servers their m.space.child events name.
func (s *Service) Hierarchy(ctx context.Context, req Request) (*Page, error) {
	if req.MaxDepth < 0 {
		req.MaxDepth = DefaultMaxDepth
	}
	req.MaxDepth = min(req.MaxDepth, MaxMaxDepth)
	if req.Limit <= 0 {
		req.Limit = DefaultLimit
	}
	req.Limit = min(req.Limit, MaxLimit)
	offset := 0
	if req.From != "" {
		t, err := decodeToken(req.From)
		if err != nil {
			return nil, err
		}
		if t.Room != req.RoomID || t.SuggestedOnly != req.SuggestedOnly || t.MaxDepth != req.MaxDepth {
			return nil, fmt.Errorf("%w: suggested_only, max_depth and the room must stay as on the first page", ErrBadToken)
		}
		offset = t.Offset
	}
	w := &walk{s: s, user: req.User, suggestedOnly: req.SuggestedOnly, remote: map[id.RoomID]*Room{}, remoteSeen: map[id.RoomID]bool{}}
	root, ok, err := w.local(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrForbidden, req.RoomID)
	}
	if ok, err := w.userMaySee(ctx, root, true); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrForbidden, req.RoomID)
	}
	// Walk until the page is full and one room more shows whether there
	// is a next page.
	rooms, err := w.run(ctx, root, req.MaxDepth, offset+req.Limit+1)
	if err != nil {
		return nil, err
	}
	page := &Page{Rooms: []Room{}}
	if offset < len(rooms) {
		page.Rooms = rooms[offset:min(len(rooms), offset+req.Limit)]
	}
	if len(rooms) > offset+req.Limit {
		page.NextBatch = token{Room: req.RoomID, Offset: offset + req.Limit, SuggestedOnly: req.SuggestedOnly, MaxDepth: req.MaxDepth}.encode()
	}
	return page, nil
}

// walk is one depth-first walk for a user.
type walk struct {
	s             *Service
	user          id.UserID
	suggestedOnly bool
	// remote holds the rooms other servers described (children's
	// summaries included), remoteSeen the rooms already asked about.
	remote     map[id.RoomID]*Room
	remoteSeen map[id.RoomID]bool
	requests   int
}

// frame is a room waiting to be visited.
type frame struct {
	roomID id.RoomID
	via    []id.ServerName
	depth  int
}

// run visits the tree from root, depth first in the spec's child order,
// and returns the visible rooms, at most max of them.
func (w *walk) run(ctx context.Context, root Room, maxDepth, limit int) ([]Room, error) {
	var out []Room
	seen := map[id.RoomID]bool{root.RoomID: true}
	visit := func(r Room, depth int, stack []frame) []frame {
		out = append(out, r)
		if depth >= maxDepth {
			return stack
		}
		children := parseChildren(r.RoomType, r.ChildrenState, w.suggestedOnly)
		for i := len(children) - 1; i >= 0; i-- {
			c := children[i]
			if !seen[c.roomID] {
				stack = append(stack, frame{roomID: c.roomID, via: c.via, depth: depth + 1})
			}
		}
		return stack
	}
	stack := visit(root, 0, nil)
	for len(stack) > 0 && len(out) < limit {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[f.roomID] {
			continue
		}
		seen[f.roomID] = true
		r, ok, err := w.room(ctx, f.roomID, f.via)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		stack = visit(r, f.depth, stack)
	}
	return out, nil
}

// room returns a room of the tree if the user may see it: from this
// server's state if it knows the room, else as other servers describe it.
func (w *walk) room(ctx context.Context, roomID id.RoomID, via []id.ServerName) (Room, bool, error) {
	r, ok, err := w.local(ctx, roomID)
	if err != nil {
		return Room{}, false, err
	}
	if ok {
		visible, err := w.userMaySee(ctx, r, true)
		return r, visible, err
	}
	rr := w.fetchRemote(ctx, roomID, via)
	if rr == nil {
		return Room{}, false, nil
	}
	visible, err := w.userMaySee(ctx, *rr, false)
	return *rr, visible, err
}

// local returns a room this server knows, with the m.space.child events
// of its children (those of the walk); false if it does not know it.
func (w *walk) local(ctx context.Context, roomID id.RoomID) (Room, bool, error) {
	sums, err := directory.Summaries(ctx, w.s.DB, []id.RoomID{roomID})
	if err != nil {
		return Room{}, false, err
	}
	sum, ok := sums[roomID]
	if !ok {
		return Room{}, false, nil
	}
	cs, err := w.s.localChildrenState(ctx, sum, w.suggestedOnly)
	if err != nil {
		return Room{}, false, err
	}
	return fromSummary(sum, cs), true, nil
}

// localChildrenState returns the children_state of a room this server
// knows: the m.space.child events of its current state that make its
// children (parseChildren), none for a room that is not a space.
func (s *Service) localChildrenState(ctx context.Context, sum *directory.Summary, suggestedOnly bool) ([]ChildState, error) {
	if sum.RoomType != RoomTypeSpace {
		return []ChildState{}, nil
	}
	evs, err := s.DB.CurrentStateEventsOfType(ctx, sum.RoomID, "m.space.child")
	if err != nil {
		return nil, fmt.Errorf("space children of %s: %w", sum.RoomID, err)
	}
	return childrenState(sum.RoomType, childStates(evs), suggestedOnly), nil
}

// userMaySee applies the spec's list of rooms a hierarchy shows to the
// user: membership join or invite (rooms this server knows), world
// readable, public or knockable, or restricted to a room the user is
// joined to. A banned user sees the room only if it is world readable.
func (w *walk) userMaySee(ctx context.Context, r Room, known bool) (bool, error) {
	if known {
		m, err := w.s.DB.Membership(ctx, r.RoomID, w.user)
		switch {
		case err == nil && (m.Membership == "join" || m.Membership == "invite"):
			return true, nil
		case err == nil && m.Membership == "ban":
			return r.WorldReadable, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return false, err
		}
	}
	if r.openToAll() {
		return true, nil
	}
	if r.JoinRule == joinRestricted || r.JoinRule == joinKnockRestricted {
		for _, allowed := range r.AllowedRoomIDs {
			m, err := w.s.DB.Membership(ctx, allowed, w.user)
			if err == nil && m.Membership == "join" {
				return true, nil
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
		}
	}
	return false, nil
}

// FederationAnswer is the answer of GET /_matrix/federation/v1/hierarchy.
type FederationAnswer struct {
	Room                 Room        `json:"room"`
	Children             []Room      `json:"children"`
	InaccessibleChildren []id.RoomID `json:"inaccessible_children"`
}

// fetchRemote describes a room this server does not know, from what
// other servers said: the summary a parent's answer gave (enough for a
// room that is not a space), else the room's own answer from the first
// via server that gives one. nil when none does, the room is inaccessible
// to this server, or the walk has asked enough.
func (w *walk) fetchRemote(ctx context.Context, roomID id.RoomID, via []id.ServerName) *Room {
	if r, ok := w.remote[roomID]; ok && (r.RoomType != RoomTypeSpace || w.remoteSeen[roomID]) {
		return r
	}
	if w.s.Remote == nil || w.remoteSeen[roomID] {
		return w.remote[roomID]
	}
	w.remoteSeen[roomID] = true
	q := url.Values{}
	if w.suggestedOnly {
		q.Set("suggested_only", "true")
	}
	path := "/_matrix/federation/v1/hierarchy/" + url.PathEscape(string(roomID))
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	for i, srv := range via {
		if i >= maxViaTries || w.requests >= maxRemoteRequests {
			break
		}
		if srv == w.s.ServerName {
			continue
		}
		w.requests++
		raw, err := w.s.Remote.Do(ctx, federation.Request{Destination: srv, Method: http.MethodGet, Path: path})
		if err != nil {
			w.s.logger().Debug("space hierarchy of other server failed", "destination", srv, "room_id", roomID, "err", err)
			continue
		}
		var ans FederationAnswer
		if json.Unmarshal(raw, &ans) != nil || ans.Room.RoomID != roomID {
			w.s.logger().Debug("space hierarchy of other server unreadable", "destination", srv, "room_id", roomID)
			continue
		}
		for _, c := range ans.Children {
			if _, known := w.remote[c.RoomID]; !known && c.RoomID != "" {
				c.ChildrenState = []ChildState{}
				w.remote[c.RoomID] = &c
			}
		}
		// Another server's children_state may list events that make no
		// child; the user sees the same children here as in local rooms.
		ans.Room.ChildrenState = childrenState(ans.Room.RoomType, ans.Room.ChildrenState, w.suggestedOnly)
		w.remote[roomID] = &ans.Room
		return &ans.Room
	}
	return w.remote[roomID]
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// FederationHierarchy answers another server's hierarchy query: the room
// (it must be one this server knows and that origin may see:
// ErrForbidden otherwise) with its children this server knows, those
// origin may see in children (restricted rooms with their allow lists, for
// origin to filter for its users) and the others in
// inaccessible_children. It does not paginate or recurse.
func (s *Service) FederationHierarchy(ctx context.Context, origin id.ServerName, roomID id.RoomID, suggestedOnly bool) (*FederationAnswer, error) {
	w := &walk{s: s, suggestedOnly: suggestedOnly}
	root, ok, err := w.local(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrForbidden, roomID)
	}
	if !root.federate {
		return nil, fmt.Errorf("%w: %s does not federate", ErrForbidden, roomID)
	}
	if ok, err := s.serverMaySee(ctx, root, origin); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrForbidden, roomID)
	}
	ans := &FederationAnswer{Room: root, Children: []Room{}, InaccessibleChildren: []id.RoomID{}}
	children := parseChildren(root.RoomType, root.ChildrenState, suggestedOnly)
	ids := make([]id.RoomID, len(children))
	for i, c := range children {
		ids[i] = c.roomID
	}
	sums, err := directory.Summaries(ctx, s.DB, ids)
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		sum, ok := sums[c.roomID]
		if !ok {
			continue // not known here: the asking server must ask elsewhere
		}
		cs, err := s.localChildrenState(ctx, sum, suggestedOnly)
		if err != nil {
			return nil, err
		}
		r := fromSummary(sum, cs)
		visible, err := s.serverMaySee(ctx, r, origin)
		if err != nil {
			return nil, err
		}
		if visible && r.federate {
			ans.Children = append(ans.Children, r)
		} else {
			ans.InaccessibleChildren = append(ans.InaccessibleChildren, c.roomID)
		}
	}
	return ans, nil
}

// serverMaySee reports whether another server may see a room this
// server knows in a hierarchy: it is open to all or restricted (the
// server filters the allow list for its users), or one of the server's
// users is joined or invited.
func (s *Service) serverMaySee(ctx context.Context, r Room, origin id.ServerName) (bool, error) {
	if r.openToAll() || r.JoinRule == joinRestricted {
		return true, nil
	}
	members, err := s.DB.RoomMembers(ctx, r.RoomID)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m.UserID.Domain() == origin && (m.Membership == "join" || m.Membership == "invite") {
			return true, nil
		}
	}
	return false, nil
}
