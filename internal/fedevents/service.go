package fedevents

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Rooms is what the service needs of the event path (*room.Service).
type Rooms interface {
	ProcessRemote(ctx context.Context, origin id.ServerName, pdus []json.RawMessage) []room.RemoteResult
	ProcessParsed(ctx context.Context, origin id.ServerName, pdus []*event.PDU) []room.RemoteResult
	ProcessRemoteWithStates(ctx context.Context, origin id.ServerName, pdus []json.RawMessage, prevStates map[id.EventID]room.StateIDs) []room.RemoteResult
	Version(ctx context.Context, roomID id.RoomID) (string, error)
	CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (*event.PDU, error)
	ImportInvite(ctx context.Context, invite *event.PDU, v *roomversion.Version, inviteState []byte) (int64, error)
}

var (
	_ Rooms       = (*room.Service)(nil)
	_ Memberships = (*room.Service)(nil)
)

// Keys is what the service needs of the key store (*serverkeys.Keys):
// fetching the keys PDUs are signed with before the event path, whose
// lookup never fetches, checks them.
type Keys interface {
	Ensure(ctx context.Context, server id.ServerName, keyIDs []signing.KeyID, ts int64) error
	Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool)
}

// Service is the inbound federation service. Its fields are set by
// cmd/hafen; it is safe for concurrent use.
type Service struct {
	// ServerName is this server's name.
	ServerName id.ServerName
	// DB is the store: transaction answers, memberships.
	DB *store.DB
	// Rooms is the event path.
	Rooms Rooms
	// Members builds membership templates (the same *room.Service).
	Members Memberships
	// Key is this server's signing key, for the restricted joins it
	// authorises.
	Key signing.Key
	// Keys fetches other servers' keys.
	Keys Keys
	// Remote asks other servers for the events a transaction's PDUs miss;
	// nil fetches nothing.
	Remote Remote
	// States fetches the state after prev events that stay missing
	// (*fedfetch.Fetcher); nil leaves such gaps open.
	States States
	// Gaps fetches the events inside the gaps filled with state
	// (*fedfetch.Fetcher); nil leaves them out of the timeline.
	Gaps Gaps
	// EDUs receive the EDUs of transactions.
	EDUs EDUs
	// Logger receives the service's logs.
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time

	origins originLocks
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
