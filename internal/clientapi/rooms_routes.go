// Spec: Client-Server API § Rooms (the routes of the room and profile endpoints and what they share)
// https://spec.matrix.org/v1.19/client-server-api/#rooms

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// RoomService is the event path the room endpoints write through.
// room.Service implements it.
type RoomService interface {
	CreateRoom(ctx context.Context, r *room.CreateRequest) (id.RoomID, error)
	Send(ctx context.Context, roomID id.RoomID, p room.Proposal) (*event.PDU, int64, error)
	ChangeMembership(ctx context.Context, roomID id.RoomID, c room.MembershipChange) (*event.PDU, error)
	CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (*event.PDU, error)
	CurrentState(ctx context.Context, roomID id.RoomID) ([]*event.PDU, error)
	CurrentStateHeaders(ctx context.Context, roomID id.RoomID, typ string) (room.StateSnapshot, error)
	CurrentStateGroup(ctx context.Context, roomID id.RoomID) (int64, error)
	CachedStateHeaders(ctx context.Context, roomID id.RoomID, nids []int64) (store.Headers, []int64, error)
	StateAtGroupSorted(ctx context.Context, roomID id.RoomID, g int64) ([]room.GroupEntry, error)
	Version(ctx context.Context, roomID id.RoomID) (string, error)
	Forget(ctx context.Context, user id.UserID, roomID id.RoomID) error
	Deactivate(ctx context.Context, user id.UserID, erase bool) error
	Upgrade(ctx context.Context, r room.UpgradeRequest) (id.RoomID, error)
}

// RoomStore is the storage the room endpoints read; they never write to
// it (services do). store.DB implements it.
type RoomStore interface {
	room.VisibilityStore
	Event(ctx context.Context, eventID id.EventID) (store.Event, error)
	EventsByID(ctx context.Context, ids []id.EventID) ([]store.Event, error)
	RoomEventsTopo(ctx context.Context, roomID id.RoomID, from, to store.TopoPos, dir store.Direction, limit int) ([]store.Event, error)
	RoomTopoPosAt(ctx context.Context, roomID id.RoomID, pos int64) (store.TopoPos, error)
	StateGroupBeforeEvent(ctx context.Context, nid int64) (int64, error)
	StateAtGroup(ctx context.Context, groupID int64) (map[store.StateKey]int64, error)
	StateReplaces(ctx context.Context, nids []int64) (map[int64]int64, error)
	ReplacedStateEvents(ctx context.Context, events []store.Event, known map[int64]int64) (map[int64]store.Event, error)
	CurrentStateHeaders(ctx context.Context, roomID id.RoomID, typ string) (store.Headers, error)
	StateHeadersAtGroup(ctx context.Context, groupID int64, typ string) (store.Headers, error)
	CurrentStateEventsOfType(ctx context.Context, roomID id.RoomID, typ string) ([]store.Event, error)
	JoinedRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error)
	SharesRoom(ctx context.Context, a, b id.UserID) (bool, error)
	TxnEventID(ctx context.Context, k store.TxnKey) (id.EventID, error)
	HasAnnotation(ctx context.Context, parent id.EventID, typ string, sender id.UserID, key string) (bool, error)
	RoomEventsByTimestamp(ctx context.Context, roomID id.RoomID, ts int64, dir store.Direction, limit, offset int) ([]store.Event, error)
	HasForgotten(ctx context.Context, userID id.UserID, roomID id.RoomID) (bool, error)
}

var _ RoomStore = (*store.DB)(nil)

// Rooms holds the dependencies of the room and profile endpoints.
type Rooms struct {
	// Service is the event path every new event goes through.
	Service RoomService
	// Store is read directly for history and state.
	Store RoomStore
	// Directory keeps the room aliases.
	Directory Directory
	// Profiles keeps users' profiles.
	Profiles Profiles
	// RemoteJoins joins rooms of other servers (*fedjoin.Service); nil
	// when the server does not federate.
	RemoteJoins RemoteJoiner
	// History fetches history from other servers when /messages reaches
	// the start of what this server has (*fedfetch.Fetcher); nil when the
	// server does not federate.
	History HistoryFetcher
	// Relations reads relationships between events (*relations.Service)
	// for the relations and threads endpoints and bundled aggregations.
	Relations Relations
	// Search searches room events (*search.Service).
	Search Searcher
}

// roomAPI serves the room and profile endpoints. It reuses the Server's
// authentication, server name and clock.
type roomAPI struct {
	s        *Server
	svc      RoomService
	db       RoomStore
	dir      Directory
	profiles Profiles
	remote   RemoteJoiner
	history  HistoryFetcher
	rel      Relations
	searcher Searcher
	// places caches where the events that receipts name sit.
	places timelinePlaces
	// parsed keeps recently formatted events parsed (see parsedCache).
	parsed parsedCache
}

// roomRoutes registers the room and profile endpoints, one per line. A nil
// rooms registers nothing.
func (s *Server) roomRoutes(rt *httpapi.Router, rooms *Rooms) {
	if rooms == nil {
		return
	}
	a := &roomAPI{s: s, svc: rooms.Service, db: rooms.Store, dir: rooms.Directory, profiles: rooms.Profiles, remote: rooms.RemoteJoins,
		rel: rooms.Relations, history: rooms.History, searcher: rooms.Search}
	if s.Sync != nil {
		a.places.recent = s.Sync.RecentEvent
	}
	const v3 = "/_matrix/client/v3"

	rt.Handle("POST "+v3+"/createRoom", s.authed(s.limited(ActionCreateRoom, a.createRoom)))

	rt.Handle("POST "+v3+"/join/{roomIdOrAlias}", s.authed(s.limited(ActionJoin, a.joinRoom)))
	rt.Handle("POST "+v3+"/rooms/{roomId}/join", s.authed(s.limited(ActionJoin, a.joinRoomByID)))
	rt.Handle("POST "+v3+"/knock/{roomIdOrAlias}", s.authed(s.limited(ActionJoin, a.knockRoom)))
	rt.Handle("POST "+v3+"/rooms/{roomId}/invite", s.authed(s.limited(ActionInvite, a.inviteUser)))
	rt.Handle("POST "+v3+"/rooms/{roomId}/leave", s.authed(a.leaveRoom))
	rt.Handle("POST "+v3+"/rooms/{roomId}/forget", s.authed(a.forgetRoom))
	rt.Handle("POST "+v3+"/rooms/{roomId}/kick", s.authed(a.kick))
	rt.Handle("POST "+v3+"/rooms/{roomId}/ban", s.authed(a.ban))
	rt.Handle("POST "+v3+"/rooms/{roomId}/unban", s.authed(a.unban))
	rt.Handle("POST "+v3+"/rooms/{roomId}/upgrade", s.authed(s.limited(ActionCreateRoom, a.upgradeRoom)))

	rt.Handle("GET "+v3+"/rooms/{roomId}/state", s.authed(a.getRoomState))
	rt.Handle("GET "+v3+"/rooms/{roomId}/state/{eventType}", s.authed(a.getRoomStateWithKey))
	rt.Handle("GET "+v3+"/rooms/{roomId}/state/{eventType}/{stateKey...}", s.authed(a.getRoomStateWithKey))
	rt.Handle("PUT "+v3+"/rooms/{roomId}/state/{eventType}", s.authed(s.limited(ActionMessage, a.setRoomStateWithKey)))
	rt.Handle("PUT "+v3+"/rooms/{roomId}/state/{eventType}/{stateKey...}", s.authed(s.limited(ActionMessage, a.setRoomStateWithKey)))

	rt.Handle("PUT "+v3+"/rooms/{roomId}/send/{eventType}/{txnId}", s.authed(s.limited(ActionMessage, a.sendMessage)))
	rt.Handle("PUT "+v3+"/rooms/{roomId}/redact/{eventId}/{txnId}", s.authed(s.limited(ActionMessage, a.redactEvent)))

	rt.Handle("GET "+v3+"/rooms/{roomId}/messages", s.authed(a.getRoomEvents))
	rt.Handle("GET "+v3+"/rooms/{roomId}/context/{eventId}", s.authed(a.getEventContext))
	rt.Handle("GET "+v3+"/rooms/{roomId}/event/{eventId}", s.authed(a.getOneRoomEvent))
	rt.Handle("GET "+v3+"/rooms/{roomId}/members", s.authed(a.getMembersByRoom))
	rt.Handle("GET "+v3+"/rooms/{roomId}/joined_members", s.authed(a.getJoinedMembersByRoom))
	rt.Handle("GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event", s.authed(a.getEventByTimestamp))
	rt.Handle("GET /_matrix/client/v1/room_summary/{roomIdOrAlias}", s.authed(a.getRoomSummary))
	// The path of MSC3266 before it was merged (spec v1.15), which
	// matrix-js-sdk's getRoomSummary (Element's room previews) still asks.
	rt.Handle("GET /_matrix/client/unstable/im.nheko.summary/summary/{roomIdOrAlias}", s.authed(a.getRoomSummary))
	rt.Handle("GET "+v3+"/joined_rooms", s.authed(a.getJoinedRooms))

	rt.Handle("PUT "+v3+"/directory/room/{roomAlias}", s.authed(a.setRoomAlias))
	rt.Handle("GET "+v3+"/directory/room/{roomAlias}", httpapi.HandlerFunc(a.getRoomIDByAlias))
	rt.Handle("DELETE "+v3+"/directory/room/{roomAlias}", s.authed(a.deleteRoomAlias))
	rt.Handle("GET "+v3+"/rooms/{roomId}/aliases", s.authed(a.getLocalAliases))
	rt.Handle("GET "+v3+"/directory/list/room/{roomId}", httpapi.HandlerFunc(a.getRoomVisibilityOnDirectory))
	rt.Handle("PUT "+v3+"/directory/list/room/{roomId}", s.authed(a.setRoomVisibilityOnDirectory))
	rt.Handle("GET "+v3+"/publicRooms", httpapi.HandlerFunc(a.getPublicRooms))
	rt.Handle("POST "+v3+"/publicRooms", s.authed(a.queryPublicRooms))

	rt.Handle("GET "+v3+"/profile/{userId}", httpapi.HandlerFunc(a.getUserProfile))
	rt.Handle("GET "+v3+"/profile/{userId}/{keyName}", httpapi.HandlerFunc(a.getProfileField))
	rt.Handle("PUT "+v3+"/profile/{userId}/{keyName}", s.authed(a.setProfileField))
	rt.Handle("DELETE "+v3+"/profile/{userId}/{keyName}", s.authed(a.deleteProfileField))

	rt.Handle("PUT "+v3+"/presence/{userId}/status", s.authed(a.setPresence))
	rt.Handle("GET "+v3+"/presence/{userId}/status", s.authed(a.getPresence))
	rt.Handle("GET "+v3+"/notifications", s.authed(a.getNotifications))

	s.receiptRoutes(rt, a)
	s.relationsRoutes(rt, a)
	rt.Handle("POST "+v3+"/search", s.authed(a.search))
}

// pathRoomID parses the {roomId} path parameter: 400 M_INVALID_PARAM if it
// is not a room ID.
func pathRoomID(r *http.Request) (id.RoomID, error) {
	roomID, err := id.ParseRoomID(r.PathValue("roomId"))
	if err != nil {
		return "", matrixerr.InvalidParam("roomId is not a valid room ID")
	}
	return roomID, nil
}

// pathRoomEventID parses the {roomId} and {eventId} path parameters, in
// that order: 400 M_INVALID_PARAM if either is not a valid ID.
func pathRoomEventID(r *http.Request) (id.RoomID, id.EventID, error) {
	roomID, err := pathRoomID(r)
	if err != nil {
		return "", "", err
	}
	eventID, err := id.ParseEventID(r.PathValue("eventId"))
	if err != nil {
		return "", "", matrixerr.InvalidParam("eventId is not a valid event ID")
	}
	return roomID, eventID, nil
}

// pathRoomEventType parses the {roomId} and {eventType} path parameters, in
// that order: 400 M_INVALID_PARAM if the room ID is not valid or the event
// type is not 1 to 255 bytes.
func pathRoomEventType(r *http.Request) (id.RoomID, string, error) {
	roomID, err := pathRoomID(r)
	if err != nil {
		return "", "", err
	}
	typ := r.PathValue("eventType")
	if err := checkEventType(typ); err != nil {
		return "", "", err
	}
	return roomID, typ, nil
}

// maxEventTypeBytes is the spec's limit on "type" and "state_key"
// (Client-Server API § Size limits).
const maxEventTypeBytes = 255

// checkEventType validates an event type from the path.
func checkEventType(typ string) error {
	if typ == "" || len(typ) > maxEventTypeBytes {
		return matrixerr.InvalidParam("the event type must be 1 to 255 bytes")
	}
	return nil
}

// contendedRetryAfter is how long a client is told to wait before
// retrying an event refused because the room was contended.
const contendedRetryAfter = 500 * time.Millisecond

// roomErr turns an error of the event path into the Matrix error the spec
// names; other errors pass through (and become 500s).
func roomErr(err error) error {
	var me *matrixerr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return err
	case errors.Is(err, room.ErrRoomNotFound):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "unknown room")
	case errors.Is(err, room.ErrInvalidRoomState):
		return matrixerr.Wrap(matrixerr.KindInvalidRoomState, err, err.Error())
	case errors.Is(err, room.ErrForbidden):
		return matrixerr.Wrap(matrixerr.KindForbidden, err, err.Error())
	case errors.Is(err, room.ErrEventTooLarge):
		return matrixerr.Wrap(matrixerr.KindTooLarge, err, "the event is larger than 65536 bytes")
	case errors.Is(err, room.ErrUnableToGrantJoin):
		return matrixerr.Wrap(matrixerr.KindUnableToGrantJoin, err, "no user of this server in the room may invite, so none can authorise the join")
	case errors.Is(err, room.ErrAliasInUse):
		return matrixerr.Wrap(matrixerr.KindRoomInUse, err, "the room alias is already taken")
	case errors.Is(err, room.ErrInvalidRequest):
		return matrixerr.Wrap(matrixerr.KindBadJSON, err, err.Error())
	case errors.Is(err, room.ErrStillMember):
		return matrixerr.Wrap(matrixerr.KindUnknown, err, err.Error())
	case errors.Is(err, room.ErrContended):
		// Other writers kept advancing the room while the event path
		// retried with the head reloaded; nothing was written. The spec's
		// one error that tells a client to retry the same request later is
		// 429 M_LIMIT_EXCEEDED with Retry-After (client-server API §
		// Rate limiting), and clients (matrix-js-sdk, matrix-rust-sdk)
		// retry it on their own, keeping the txnId so the retry stays
		// idempotent; a 5xx would be shown as a failed send or retried
		// without the delay. Synapse likewise retries transactions that hit
		// contention inside the server and answers 429 when it sheds load.
		return &matrixerr.Error{Kind: matrixerr.KindLimitExceeded, Err: err,
			Message: "the room is busy, retry shortly", RetryAfter: contendedRetryAfter}
	}
	return err
}

// roomVersion returns the version of a known room; an unknown room is 403
// M_FORBIDDEN on read paths, which do not reveal whether a room exists to
// users who are not in it.
func (a *roomAPI) roomVersion(ctx context.Context, roomID id.RoomID) (*roomversion.Version, error) {
	vs, err := a.svc.Version(ctx, roomID)
	if errors.Is(err, room.ErrRoomNotFound) {
		return nil, matrixerr.Forbidden("you are not a member of this room")
	}
	if err != nil {
		return nil, err
	}
	v, ok := roomversion.Lookup(roomversion.ID(vs))
	if !ok {
		return nil, matrixerr.IncompatibleRoomVersion(vs)
	}
	return v, nil
}

// memberEvent returns user's current m.room.member event in the room, or
// nil if there is none; an unknown room is 404 M_NOT_FOUND.
func (a *roomAPI) memberEvent(ctx context.Context, roomID id.RoomID, user id.UserID) (*event.PDU, error) {
	pdu, err := a.svc.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err != nil {
		return nil, roomErr(err)
	}
	return pdu, nil
}

// contentString returns content[key] if it is a string, or "".
func contentString(content []byte, key string) string {
	var c map[string]any
	if err := json.Unmarshal(content, &c); err != nil {
		return ""
	}
	s, _ := c[key].(string)
	return s
}

// powerLevels returns the room's current power levels as the auth rules
// read them (creators included).
func (a *roomAPI) powerLevels(ctx context.Context, roomID id.RoomID) (*authrules.PowerLevels, error) {
	v, err := a.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	create, err := a.svc.CurrentStateEvent(ctx, roomID, "m.room.create", "")
	if err != nil {
		return nil, roomErr(err)
	}
	pl, err := a.svc.CurrentStateEvent(ctx, roomID, "m.room.power_levels", "")
	if err != nil {
		return nil, roomErr(err)
	}
	return authrules.NewPowerLevels(v, pl, authrules.Creators(create)), nil
}

// isLocalServer reports whether a server name is this server's (case
// insensitively, as DNS names are).
func (a *roomAPI) isLocalServer(server id.ServerName) bool {
	return strings.EqualFold(string(server), string(a.s.ServerName))
}

// limited wraps an authenticated handler so that each user may perform the
// action only as fast as the rate limiter allows (M_LIMIT_EXCEEDED beyond).
func (s *Server) limited(action string, h func(w http.ResponseWriter, r *http.Request, sess session) error) func(w http.ResponseWriter, r *http.Request, sess session) error {
	return func(w http.ResponseWriter, r *http.Request, sess session) error {
		if err := s.Limiter.Check(action, string(sess.UserID)); err != nil {
			return err
		}
		return h(w, r, sess)
	}
}
