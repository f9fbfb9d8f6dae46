// Package fedjoin joins a local user to a room of other servers: it asks a
// resident server for a join template (make_join), builds and signs the
// join event, sends it (send_join v2) and checks the answer — the room
// state before the join and its auth chain, every event with its
// signatures, content hash and auth rules, and the join itself against
// that state — before anything is stored.
//
// Spec: Server-Server API § Joining Rooms
// https://spec.matrix.org/v1.19/server-server-api/#joining-rooms
package fedjoin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/background"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/serverkeys"
)

// Transport sends requests to other servers (*federation.Client).
type Transport interface {
	Do(ctx context.Context, req federation.Request) ([]byte, error)
}

// Keys fetches and looks up other servers' signing keys
// (*serverkeys.Keys).
type Keys interface {
	EnsureForPDUs(ctx context.Context, pdus []json.RawMessage)
	Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool)
}

var (
	_ Transport = (*federation.Client)(nil)
	_ Keys      = (*serverkeys.Keys)(nil)
)

// Sentinel errors.
var (
	// ErrIncompatibleVersion means the room's version is one this server
	// does not support.
	ErrIncompatibleVersion = errors.New("room version not supported")
	// ErrBadTemplate means a make_join answer is not a join of the user.
	ErrBadTemplate = errors.New("bad join template")
	// ErrBadAnswer means a send_join answer does not check out.
	ErrBadAnswer = errors.New("bad send_join answer")
	// ErrNoServer means no server could be asked.
	ErrNoServer = errors.New("no server to join through")
)

// Joiner joins local users to remote rooms.
type Joiner struct {
	ServerName id.ServerName
	Key        signing.Key
	Client     Transport
	Keys       Keys
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Joined is a checked remote join: the room's version, the join event as
// the resident server accepted it, the state before it and the auth chain
// of both, every event checked.
type Joined struct {
	RoomID    id.RoomID
	Version   *roomversion.Version
	Server    id.ServerName
	Event     *event.PDU
	State     []*event.PDU
	AuthChain []*event.PDU
}

// template is a make_join answer.
type template struct {
	RoomVersion string `json:"room_version"`
	Event       struct {
		Type       string          `json:"type"`
		StateKey   *string         `json:"state_key"`
		Sender     id.UserID       `json:"sender"`
		RoomID     id.RoomID       `json:"room_id"`
		Content    json.RawMessage `json:"content"`
		PrevEvents []id.EventID    `json:"prev_events"`
		AuthEvents []id.EventID    `json:"auth_events"`
		Depth      int64           `json:"depth"`
	} `json:"event"`
}

// answer is a send_join v2 answer.
type answer struct {
	State     []json.RawMessage `json:"state"`
	AuthChain []json.RawMessage `json:"auth_chain"`
	Event     json.RawMessage   `json:"event"`
}

// Join joins user to roomID through the first of servers that answers:
// make_join, build and sign, send_join, check. content holds extra
// fields of the join's content (displayname, reason), or nil. Nothing is
// stored: the caller persists the result.
func (j *Joiner) Join(ctx context.Context, roomID id.RoomID, user id.UserID, servers []id.ServerName, content map[string]any) (*Joined, error) {
	var errs []error
	tried := map[id.ServerName]bool{}
	for _, srv := range servers {
		if srv == j.ServerName || srv == "" || tried[srv] {
			continue
		}
		tried[srv] = true
		joined, err := j.joinVia(ctx, srv, roomID, user, content)
		if err == nil {
			return joined, nil
		}
		if errors.Is(err, ErrIncompatibleVersion) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("join %s: %w", roomID, ErrNoServer)
	}
	return nil, fmt.Errorf("join %s: %w", roomID, errors.Join(errs...))
}

func (j *Joiner) joinVia(ctx context.Context, srv id.ServerName, roomID id.RoomID, user id.UserID, extra map[string]any) (*Joined, error) {
	q := url.Values{}
	for _, v := range roomversion.All() {
		q.Add("ver", string(v.ID))
	}
	path := "/_matrix/federation/v1/make_join/" + url.PathEscape(string(roomID)) + "/" + url.PathEscape(string(user)) + "?" + q.Encode()
	raw, err := j.Client.Do(ctx, federation.Request{Destination: srv, Method: http.MethodGet, Path: path})
	if err != nil {
		var he *federation.HTTPError
		if errors.As(err, &he) && he.Errcode == matrixerr.KindIncompatibleRoomVersion.Code() {
			return nil, fmt.Errorf("make_join via %s: %w: %w", srv, ErrIncompatibleVersion, err)
		}
		return nil, fmt.Errorf("make_join via %s: %w", srv, err)
	}
	var tpl template
	if err := json.Unmarshal(raw, &tpl); err != nil {
		return nil, fmt.Errorf("make_join via %s: %w: %w", srv, ErrBadTemplate, err)
	}
	if tpl.RoomVersion == "" {
		tpl.RoomVersion = "1" // the spec's default when a server leaves it out
	}
	v, ok := roomversion.Lookup(roomversion.ID(tpl.RoomVersion))
	if !ok {
		return nil, fmt.Errorf("make_join via %s: %w: %q", srv, ErrIncompatibleVersion, tpl.RoomVersion)
	}
	e := tpl.Event
	if e.Type != "m.room.member" || e.Sender != user || e.StateKey == nil || *e.StateKey != string(user) || e.RoomID != roomID || len(e.PrevEvents) == 0 {
		return nil, fmt.Errorf("make_join via %s: %w: not a join of %s in %s", srv, ErrBadTemplate, user, roomID)
	}
	content := map[string]any{}
	if len(e.Content) > 0 {
		if err := json.Unmarshal(e.Content, &content); err != nil {
			return nil, fmt.Errorf("make_join via %s: %w: content: %w", srv, ErrBadTemplate, err)
		}
	}
	for k, val := range extra {
		if k != "membership" && k != "join_authorised_via_users_server" {
			content[k] = val
		}
	}
	content["membership"] = "join"
	body, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode join content: %w", err)
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	join, err := event.Build(event.Proto{
		Type: e.Type, StateKey: e.StateKey, Sender: user, RoomID: roomID, Content: body,
		PrevEvents: e.PrevEvents, AuthEvents: e.AuthEvents, Depth: e.Depth, OriginServerTS: now().UnixMilli(),
	}, v, j.Key)
	if err != nil {
		return nil, fmt.Errorf("build join via %s: %w", srv, err)
	}
	path = "/_matrix/federation/v2/send_join/" + url.PathEscape(string(roomID)) + "/" + url.PathEscape(string(join.EventID()))
	raw, err = j.Client.Do(ctx, federation.Request{Destination: srv, Method: http.MethodPut, Path: path, Body: join.JSON()})
	if err != nil {
		return nil, fmt.Errorf("send_join via %s: %w", srv, err)
	}
	var ans answer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("send_join via %s: %w: %w", srv, ErrBadAnswer, err)
	}
	joined, err := j.check(ctx, v, roomID, join, ans)
	if err != nil {
		return nil, fmt.Errorf("send_join via %s: %w", srv, err)
	}
	joined.Server = srv
	return joined, nil
}

// check verifies a send_join answer: every event of the state and the
// auth chain passes the checks on receipt (format, signatures, content
// hash, auth rules against its own auth events, which must be among
// them), the state holds the room's create event, and the join — the
// resident's co-signed copy if it sent one — is allowed by that state.
func (j *Joiner) check(ctx context.Context, v *roomversion.Version, roomID id.RoomID, join *event.PDU, ans answer) (*Joined, error) {
	joinRaw := join.JSON()
	if len(ans.Event) > 0 {
		joinRaw = ans.Event
	}
	all := append(append(slices.Clip(ans.AuthChain), ans.State...), joinRaw)
	j.Keys.EnsureForPDUs(ctx, all)

	// Parse everything first, once (the state and the auth chain share
	// many events), so events can be checked in auth order.
	parsed := map[id.EventID]*event.PDU{}
	parse := func(raws []json.RawMessage) ([]id.EventID, error) {
		out := make([]id.EventID, 0, len(raws))
		for _, raw := range raws {
			e, err := event.Parse(raw, v)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadAnswer, err)
			}
			if e.RoomID() != roomID {
				return nil, fmt.Errorf("%w: event %s is of room %s", ErrBadAnswer, e.EventID(), e.RoomID())
			}
			if _, ok := parsed[e.EventID()]; !ok {
				parsed[e.EventID()] = e
			}
			out = append(out, e.EventID())
		}
		return out, nil
	}
	authIDs, err := parse(ans.AuthChain)
	if err != nil {
		return nil, err
	}
	stateIDs, err := parse(ans.State)
	if err != nil {
		return nil, err
	}
	accepted := map[id.EventID]*event.PDU{}
	lookup := func(eid id.EventID) (*event.PDU, bool) {
		e, ok := accepted[eid]
		return e, ok
	}
	var visit func(eid id.EventID, depth int) error
	visit = func(eid id.EventID, depth int) error {
		if _, ok := accepted[eid]; ok {
			return nil
		}
		e, ok := parsed[eid]
		if !ok {
			return fmt.Errorf("%w: auth event %s is not in the answer", ErrBadAnswer, eid)
		}
		if depth > len(parsed) {
			return fmt.Errorf("%w: auth events of %s form a cycle", ErrBadAnswer, eid)
		}
		auth := e.AuthEvents()
		if v.RoomIDFromCreateEvent && e.Type() != "m.room.create" {
			auth = append(slices.Clip(auth), createEventID(roomID))
		}
		for _, a := range auth {
			if err := visit(a, depth+1); err != nil {
				return err
			}
		}
		res, err := pducheck.CheckParsed(e, v, j.Keys.Lookup, lookup)
		if err != nil {
			return fmt.Errorf("%w: event %s: %w", ErrBadAnswer, eid, err)
		}
		accepted[eid] = res.Event
		return nil
	}
	out := &Joined{RoomID: roomID, Version: v}
	state := authrules.StateMap{}
	for _, eid := range stateIDs {
		if err := visit(eid, 0); err != nil {
			return nil, err
		}
		e := accepted[eid]
		if !e.IsState() {
			return nil, fmt.Errorf("%w: %s in the state is not a state event", ErrBadAnswer, eid)
		}
		out.State = append(out.State, e)
		state[e.StateKeyTuple()] = e
	}
	for _, eid := range authIDs {
		if err := visit(eid, 0); err != nil {
			return nil, err
		}
		out.AuthChain = append(out.AuthChain, accepted[eid])
	}
	if state[event.StateKey{Type: "m.room.create"}] == nil {
		return nil, fmt.Errorf("%w: the state has no create event", ErrBadAnswer)
	}
	final, err := event.Parse(joinRaw, v)
	if err != nil || final.EventID() != join.EventID() {
		return nil, fmt.Errorf("%w: the join returned is not the join sent", ErrBadAnswer)
	}
	if err := event.VerifySignatures(final, j.Keys.Lookup); err != nil {
		return nil, fmt.Errorf("%w: join: %w", ErrBadAnswer, err)
	}
	if _, err := pducheck.CheckStateBefore(final, state); err != nil {
		return nil, fmt.Errorf("%w: the join is not allowed by the state: %w", ErrBadAnswer, err)
	}
	out.Event = final
	return out, nil
}

// createEventID returns the create event's ID of a room whose ID derives
// from it (room version 12 and later).
func createEventID(roomID id.RoomID) id.EventID {
	s := string(roomID)
	if len(s) > 0 {
		s = s[1:]
	}
	return id.EventID("$" + s)
}

// Rooms stores a checked remote join (*room.Service).
type Rooms interface {
	ImportJoin(ctx context.Context, rj room.RemoteJoin) (int64, error)
	InvitingServer(ctx context.Context, roomID id.RoomID, user id.UserID) (id.ServerName, error)
	ImportRejection(ctx context.Context, leave *event.PDU, v *roomversion.Version) (int64, error)
	RejectLocally(ctx context.Context, roomID id.RoomID, user id.UserID, reason string) (*event.PDU, error)
}

var _ Rooms = (*room.Service)(nil)

// History fetches a room's history from other servers
// (*fedfetch.Fetcher).
type History interface {
	Backfill(ctx context.Context, roomID id.RoomID, servers []id.ServerName, from []id.EventID, limit int) (int, error)
}

// JoinBackfill is the number of events of history fetched right after a
// remote join.
const JoinBackfill = 20

// joinBackfillTimeout bounds fetching history after a join.
const joinBackfillTimeout = 20 * time.Second

// Service joins local users to rooms of other servers and stores the
// rooms: what the client API's /join calls for a room this server is not
// in.
type Service struct {
	Joiner *Joiner
	Rooms  Rooms
	// History fetches recent history after a join; nil fetches none.
	History History
	// Logger receives the failures of fetching history; nil discards them.
	Logger *slog.Logger

	bg background.Group
}

// Close stops fetching history for joins (a fetch in flight is
// abandoned) and waits until it has stopped.
func (s *Service) Close() {
	s.bg.Close()
}

// JoinRemote joins user to roomID through servers, and the server that
// invited the user if one did (see Joiner.Join), and
// stores the room with its state; the join reaches the user's sync through
// the event stream. Then, in the background (the client does not wait
// for it), it fetches the room's recent history from the server it joined
// through, so that the user finds the messages from before the join that
// the room's history visibility lets them see; a failure there leaves
// the join as it is (/messages asks again when it reaches the start).
func (s *Service) JoinRemote(ctx context.Context, roomID id.RoomID, user id.UserID, servers []id.ServerName, content map[string]any) error {
	// A user invited to the room joins through the inviting server too
	// (the only server a room ID of version 12 gives away).
	if srv, err := s.Rooms.InvitingServer(ctx, roomID, user); err == nil && !slices.Contains(servers, srv) {
		servers = append(slices.Clone(servers), srv)
	}
	joined, err := s.Joiner.Join(ctx, roomID, user, servers, content)
	if err != nil {
		return err
	}
	_, err = s.Rooms.ImportJoin(ctx, room.RemoteJoin{
		RoomID: joined.RoomID, Version: joined.Version, Join: joined.Event, State: joined.State, AuthChain: joined.AuthChain,
	})
	if err != nil || s.History == nil {
		return err
	}
	from := slices.Clip(joined.Event.PrevEvents())
	via := append([]id.ServerName{joined.Server}, servers...)
	s.bg.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, joinBackfillTimeout)
		defer cancel()
		if _, err := s.History.Backfill(ctx, roomID, via, from, JoinBackfill); err != nil && s.Logger != nil {
			s.Logger.Warn("could not fetch history after a join", "room_id", string(roomID), "origin", string(joined.Server), "err", err)
		}
	})
	return nil
}

// ErrAliasNotFound means the alias's server does not know the alias.
var ErrAliasNotFound = errors.New("room alias not found")

// ResolveAlias asks the alias's server for the room it names and the
// servers in it (GET /_matrix/federation/v1/query/directory).
func (s *Service) ResolveAlias(ctx context.Context, alias id.RoomAlias) (id.RoomID, []id.ServerName, error) {
	srv := alias.Domain()
	raw, err := s.Joiner.Client.Do(ctx, federation.Request{
		Destination: srv, Method: http.MethodGet,
		Path: "/_matrix/federation/v1/query/directory?room_alias=" + url.QueryEscape(string(alias)),
	})
	var he *federation.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return "", nil, fmt.Errorf("resolve %s: %w", alias, ErrAliasNotFound)
	}
	if err != nil {
		return "", nil, fmt.Errorf("resolve %s: %w", alias, err)
	}
	var ans struct {
		RoomID  id.RoomID       `json:"room_id"`
		Servers []id.ServerName `json:"servers"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", nil, fmt.Errorf("resolve %s: %w", alias, err)
	}
	if _, err := id.ParseRoomID(string(ans.RoomID)); err != nil {
		return "", nil, fmt.Errorf("resolve %s: bad room ID %q", alias, ans.RoomID)
	}
	// The alias's server first: it answered, so it is up.
	return ans.RoomID, append([]id.ServerName{srv}, ans.Servers...), nil
}
