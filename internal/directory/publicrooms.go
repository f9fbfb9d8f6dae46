package directory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// The published room directory ("room directory" in the spec's Room
// discovery section): which rooms are listed, and the paginated,
// filterable list itself, for local clients, other servers and, through
// other servers' lists, local clients asking about them.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#listing-rooms

// Remote sends requests to other servers (*federation.Client).
type Remote interface {
	Do(ctx context.Context, req federation.Request) ([]byte, error)
}

var _ Remote = (*federation.Client)(nil)

// Directory visibilities.
const (
	VisibilityPublic  = "public"
	VisibilityPrivate = "private"
)

// Visibility returns whether a room is published: VisibilityPublic or
// VisibilityPrivate; ErrRoomUnknown for a room this server does not know.
func (s *Service) Visibility(ctx context.Context, roomID id.RoomID) (string, error) {
	rm, err := s.DB.Room(ctx, roomID)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%w: %s", ErrRoomUnknown, roomID)
	}
	if err != nil {
		return "", err
	}
	if rm.IsPublic {
		return VisibilityPublic, nil
	}
	return VisibilityPrivate, nil
}

// SetVisibility publishes a room in the directory or removes it, on
// behalf of user: a server admin, or a joined member whose power level
// allows sending m.room.canonical_alias (the room's moderators, as in
// other servers); ErrNotAllowed otherwise. ErrRoomUnknown for an unknown
// room.
func (s *Service) SetVisibility(ctx context.Context, roomID id.RoomID, user id.UserID, visibility string) error {
	if _, err := s.Visibility(ctx, roomID); err != nil {
		return err
	}
	ok, err := s.mayPublish(ctx, roomID, user)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotAllowed
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetRoomPublic(ctx, roomID, visibility == VisibilityPublic)
	})
	if err != nil {
		return fmt.Errorf("set directory visibility of %s: %w", roomID, err)
	}
	return nil
}

// mayPublish reports whether user may change the room's visibility.
func (s *Service) mayPublish(ctx context.Context, roomID id.RoomID, user id.UserID) (bool, error) {
	u, err := s.DB.User(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("load %s: %w", user, err)
	}
	if u.IsAdmin {
		return true, nil
	}
	member, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err != nil {
		return false, err
	}
	if authrules.MembershipOf(member) != room.MembershipJoin {
		return false, nil
	}
	vs, err := s.Rooms.Version(ctx, roomID)
	if err != nil {
		return false, err
	}
	v, ok := roomversion.Lookup(roomversion.ID(vs))
	if !ok {
		return false, nil
	}
	create, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.create", "")
	if err != nil {
		return false, err
	}
	pl, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.power_levels", "")
	if err != nil {
		return false, err
	}
	levels := authrules.NewPowerLevels(v, pl, authrules.Creators(create))
	return levels.UserLevel(user) >= levels.EventLevel("m.room.canonical_alias", true), nil
}

// PublicRoomsRequest is a query of a published room directory.
type PublicRoomsRequest struct {
	// Limit is the largest number of rooms to return; 0 means all.
	Limit int `json:"limit,omitempty"`
	// Since is a token of an earlier answer's next_batch or prev_batch.
	Since string `json:"since,omitempty"`
	// Filter narrows the list; nil lists every published room.
	Filter *PublicRoomsFilter `json:"filter,omitempty"`
	// ForServer is the server asking over federation, empty for a local
	// client: rooms that do not federate are listed only locally.
	ForServer id.ServerName `json:"-"`
}

// PublicRoomsFilter is the spec's filter of POST /publicRooms.
type PublicRoomsFilter struct {
	GenericSearchTerm string `json:"generic_search_term,omitempty"`
	// RoomTypes lists the room types to include; a nil entry stands for
	// rooms without a type. Empty includes every room.
	RoomTypes []*string `json:"room_types,omitempty"`
}

// PublicRooms is an answer of the published room directory.
type PublicRooms struct {
	Chunk                  []*Summary `json:"chunk"`
	NextBatch              string     `json:"next_batch,omitempty"`
	PrevBatch              string     `json:"prev_batch,omitempty"`
	TotalRoomCountEstimate int        `json:"total_room_count_estimate"`
}

// PublicRooms lists this server's published rooms that match the request:
// ordered by joined members (most first), then room ID, a page of at most
// Limit rooms from the Since token on. Rooms nobody is joined to any more
// are left out, and rooms that do not federate are left out for other
// servers. ErrBadToken for a token this server did not make.
func (s *Service) PublicRooms(ctx context.Context, req PublicRoomsRequest) (*PublicRooms, error) {
	start, end, err := parsePageToken(req.Since)
	if err != nil {
		return nil, err
	}
	sums, err := s.publishedSummaries(ctx)
	if err != nil {
		return nil, err
	}
	list := make([]*Summary, 0, len(sums))
	for _, sum := range sums {
		if sum.NumJoinedMembers == 0 || (req.ForServer != "" && !sum.Federate) || !req.Filter.matches(sum) {
			continue
		}
		list = append(list, sum)
	}
	slices.SortFunc(list, func(a, b *Summary) int {
		if c := cmp.Compare(b.NumJoinedMembers, a.NumJoinedMembers); c != 0 {
			return c
		}
		return strings.Compare(string(a.RoomID), string(b.RoomID))
	})
	out := &PublicRooms{TotalRoomCountEstimate: len(list)}
	// A page is [start, end) of the ordered list; a "next" token fixes its
	// start, a "prev" token its end.
	limit := req.Limit
	if limit <= 0 || limit > len(list) {
		limit = len(list)
	}
	switch {
	case end >= 0:
		end = min(end, len(list))
		start = max(0, end-limit)
	default:
		start = min(start, len(list))
		end = min(len(list), start+limit)
	}
	out.Chunk = list[start:end]
	if end < len(list) {
		out.NextBatch = "n" + strconv.Itoa(end)
	}
	if start > 0 {
		out.PrevBatch = "p" + strconv.Itoa(start)
	}
	return out, nil
}

// parsePageToken reads a page token: "n<i>" starts a page at index i,
// "p<i>" ends one there (returned as end, start 0); an empty token starts
// at 0 with no end (end -1).
func parsePageToken(tok string) (start, end int, err error) {
	if tok == "" {
		return 0, -1, nil
	}
	n, perr := strconv.Atoi(tok[1:])
	if perr != nil || n < 0 || (tok[0] != 'n' && tok[0] != 'p') {
		return 0, 0, fmt.Errorf("%w: %q", ErrBadToken, tok)
	}
	if tok[0] == 'p' {
		return 0, n, nil
	}
	return n, -1, nil
}

// matches reports whether a room passes the filter (a nil filter passes
// everything): the search term, case-insensitively, in the name, topic,
// canonical alias or room ID, and the room's type among RoomTypes.
func (f *PublicRoomsFilter) matches(s *Summary) bool {
	if f == nil {
		return true
	}
	if len(f.RoomTypes) > 0 {
		found := false
		for _, t := range f.RoomTypes {
			if (t == nil && s.RoomType == "") || (t != nil && *t == s.RoomType) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	term := strings.ToLower(strings.TrimSpace(f.GenericSearchTerm))
	if term == "" {
		return true
	}
	for _, field := range []string{s.Name, s.Topic, s.CanonicalAlias, string(s.RoomID)} {
		if strings.Contains(strings.ToLower(field), term) {
			return true
		}
	}
	return false
}

// RemotePublicRooms asks another server for its published room directory
// (GET /_matrix/federation/v1/publicRooms without a filter, POST with
// one) and returns its answer as the server gave it, once it is checked to
// be a directory answer. ErrRemote wraps the server's failure to answer.
func (s *Service) RemotePublicRooms(ctx context.Context, server id.ServerName, req PublicRoomsRequest) (json.RawMessage, error) {
	if s.Remote == nil {
		return nil, fmt.Errorf("%w: %s: this server does not federate", ErrRemote, server)
	}
	const path = "/_matrix/federation/v1/publicRooms"
	fr := federation.Request{Destination: server, Method: http.MethodGet, Path: path}
	if req.Filter != nil {
		body, err := json.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("encode public rooms query: %w", err)
		}
		fr.Method, fr.Body = http.MethodPost, body
	} else {
		q := url.Values{}
		if req.Limit > 0 {
			q.Set("limit", strconv.Itoa(req.Limit))
		}
		if req.Since != "" {
			q.Set("since", req.Since)
		}
		if len(q) > 0 {
			fr.Path += "?" + q.Encode()
		}
	}
	raw, err := s.Remote.Do(ctx, fr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemote, err)
	}
	var check struct {
		Chunk []json.RawMessage `json:"chunk"`
	}
	if err := json.Unmarshal(raw, &check); err != nil || check.Chunk == nil {
		return nil, fmt.Errorf("%w: %s answered something other than a room directory", ErrRemote, server)
	}
	return raw, nil
}
