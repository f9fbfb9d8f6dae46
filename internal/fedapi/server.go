package fedapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/serverkeys"
	"github.com/hafenchat/hafen/internal/store"
)

// Keys is what the federation API needs of the key store
// (*serverkeys.Keys).
type Keys interface {
	OwnResponse() ([]byte, error)
	NotaryQuery(ctx context.Context, query map[id.ServerName]serverkeys.NotaryCriteria) ([]json.RawMessage, error)
	RequestKey(ctx context.Context, server id.ServerName, keyID signing.KeyID) (ed25519.PublicKey, error)
}

var _ Keys = (*serverkeys.Keys)(nil)

// Events is what the room endpoints need of the inbound federation service
// (*fedevents.Service).
type Events interface {
	ProcessTransaction(ctx context.Context, txn fedevents.Transaction) (json.RawMessage, error)
	Event(ctx context.Context, server id.ServerName, eventID id.EventID) (json.RawMessage, error)
	StateAt(ctx context.Context, server id.ServerName, roomID id.RoomID, eventID id.EventID) (fedevents.RoomState, error)
	EventAuth(ctx context.Context, server id.ServerName, roomID id.RoomID, eventID id.EventID) ([]store.Event, error)
	Backfill(ctx context.Context, server id.ServerName, roomID id.RoomID, from []id.EventID, limit int) ([]json.RawMessage, error)
	MissingEvents(ctx context.Context, server id.ServerName, roomID id.RoomID, req fedevents.MissingEventsRequest) ([]json.RawMessage, error)
	ResidentServers(ctx context.Context, roomID id.RoomID) ([]id.ServerName, error)
	MakeMembership(ctx context.Context, origin id.ServerName, roomID id.RoomID, user id.UserID, membership string, versions []string) (json.RawMessage, string, error)
	Invite(ctx context.Context, origin id.ServerName, roomID id.RoomID, eventID id.EventID, roomVersion string, raw, inviteState json.RawMessage) (json.RawMessage, error)
	SendMembership(ctx context.Context, origin id.ServerName, roomID id.RoomID, eventID id.EventID, raw json.RawMessage, membership string) (fedevents.MembershipResult, error)
}

var _ Events = (*fedevents.Service)(nil)

// Server is the Server-Server API. Its fields are set by cmd/hafen.
type Server struct {
	// ServerName is this server's name: requests must be addressed to it.
	ServerName id.ServerName
	// Keys is the key store.
	Keys Keys
	// Version is the version reported by /_matrix/federation/v1/version.
	Version string
	// Events is the service behind the room endpoints (transactions,
	// events, state, joins).
	Events Events
	// Profiles answers profile queries (*profile.Service).
	Profiles Profiles
	// Directory answers room alias queries (*directory.Service).
	Directory Directory
	// E2EE answers the device and key endpoints (*e2ee.Service); nil
	// leaves them unrouted.
	E2EE E2EE
	// OpenID resolves OpenID tokens for /openid/userinfo
	// (*account.Service); nil answers every token as unknown.
	OpenID OpenID
	// Spaces answers space hierarchy queries (*spaces.Service); nil
	// answers 404 for every room.
	Spaces Spaces
	// Media serves this server's media (*media.Service); nil answers
	// 404 to every media request.
	Media Media
	// Contacted, when set, is told the origin of every authenticated
	// request before it is handled: the server is up (the federation
	// sender retries its queue at once). It must not block.
	Contacted func(origin id.ServerName)
}

// Profiles is what profile queries need (*profile.Service).
type Profiles interface {
	Get(ctx context.Context, user id.UserID) (profile.Profile, error)
	AllFields(ctx context.Context, user id.UserID) (profile.Fields, error)
}

// Directory is what room alias queries and the room directory need (*directory.Service).
type Directory interface {
	Lookup(ctx context.Context, alias id.RoomAlias) (directory.Alias, error)
	PublicRooms(ctx context.Context, req directory.PublicRoomsRequest) (*directory.PublicRooms, error)
}

var (
	_ Profiles  = (*profile.Service)(nil)
	_ Directory = (*directory.Service)(nil)
)

// ServerImplementationName is the name /version reports.
const ServerImplementationName = "Hafen"

// pathRoomID reads the roomId path value; a malformed one is M_INVALID_PARAM.
func pathRoomID(r *http.Request) (id.RoomID, error) {
	roomID, err := id.ParseRoomID(r.PathValue("roomId"))
	if err != nil {
		return "", matrixerr.InvalidParam("roomId: %v", err)
	}
	return roomID, nil
}

// pathEventID reads the eventId path value; a malformed one is
// M_INVALID_PARAM.
func pathEventID(r *http.Request) (id.EventID, error) {
	eventID, err := id.ParseEventID(r.PathValue("eventId"))
	if err != nil {
		return "", matrixerr.InvalidParam("eventId: %v", err)
	}
	return eventID, nil
}

// pathRoomAndEvent reads the roomId and eventId path values, the room's
// first.
func pathRoomAndEvent(r *http.Request) (id.RoomID, id.EventID, error) {
	roomID, err := pathRoomID(r)
	if err != nil {
		return "", "", err
	}
	eventID, err := pathEventID(r)
	if err != nil {
		return "", "", err
	}
	return roomID, eventID, nil
}
