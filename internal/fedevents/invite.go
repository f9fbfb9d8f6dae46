package fedevents

// Spec: Server-Server API § Inviting to a room
// https://spec.matrix.org/v1.19/server-server-api/#inviting-to-a-room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Invite checks an invite of a local user that origin's user sends and
// returns it signed by this server, for the inviting server to send to the
// room. An invite to a room this server is in reaches the user through the
// room's events; an invite to a room this server does not know is stored
// with inviteState, the room's stripped state as the inviting server sent
// it (a JSON array; anything else is taken as none), and shown in the
// user's sync until the user joins through the inviting server.
//
// The spec lets a server refuse "to participate in the room" with 403:
// a room this server knows but has no joined user in is refused that way
// (ErrNotInRoom), because its stored state is stale.
//
// Errors wrap ErrIncompatibleVersion (roomVersion is not supported),
// ErrBadEvent (the event does not match the request, is not an invite of
// a user of this server by a user of origin, or its signatures fail),
// ErrNotInRoom, ErrDeniedByACL or ErrWrongServer (the invited user does
// not exist here).
func (s *Service) Invite(ctx context.Context, origin id.ServerName, roomID id.RoomID, eventID id.EventID, roomVersion string, raw, inviteState json.RawMessage) (json.RawMessage, error) {
	v, ok := roomversion.Lookup(roomversion.ID(roomVersion))
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrIncompatibleVersion, roomVersion)
	}
	e, err := event.Parse(raw, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	var content struct {
		Membership string `json:"membership"`
	}
	json.Unmarshal(e.Content(), &content)
	sk, isState := e.StateKey()
	switch {
	case e.EventID() != eventID:
		return nil, fmt.Errorf("%w: the event's ID is %s, not %s", ErrBadEvent, e.EventID(), eventID)
	case e.RoomID() != roomID:
		return nil, fmt.Errorf("%w: the event is in %s, not %s", ErrBadEvent, e.RoomID(), roomID)
	case e.Type() != "m.room.member" || !isState || content.Membership != "invite":
		return nil, fmt.Errorf("%w: the event is not an invite", ErrBadEvent)
	case e.Sender().Domain() != origin:
		return nil, fmt.Errorf("%w: the sender %s is not a user of %s", ErrBadEvent, e.Sender(), origin)
	case id.UserID(sk).Domain() != s.ServerName:
		return nil, fmt.Errorf("%w: %s is not a user of this server", ErrBadEvent, sk)
	}
	s.ensureKeysRaw(ctx, raw, v)
	if err := event.VerifySignatures(e, s.Keys.Lookup); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	if _, err := s.DB.User(ctx, id.UserID(sk)); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no user %s here", ErrWrongServer, sk)
	} else if err != nil {
		return nil, fmt.Errorf("load user %s: %w", sk, err)
	}
	rv, err := s.roomVersion(ctx, roomID)
	if errors.Is(err, room.ErrRoomNotFound) {
		return s.inviteToUnknownRoom(ctx, e, v, raw, inviteState)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotInRoom, roomID)
	}
	if rv.ID != v.ID {
		return nil, fmt.Errorf("%w: the room's version is %s, not %s", ErrBadEvent, rv.ID, v.ID)
	}
	if _, err := s.residentRoom(ctx, origin, roomID); err != nil {
		return nil, err
	}
	signed, err := event.Sign(raw, v, s.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	return signed, nil
}

// inviteToUnknownRoom signs and stores an invite to a room this server
// does not know.
func (s *Service) inviteToUnknownRoom(ctx context.Context, e *event.PDU, v *roomversion.Version, raw, inviteState json.RawMessage) (json.RawMessage, error) {
	signed, err := event.Sign(raw, v, s.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	pdu, err := event.Parse(signed, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	var stripped []json.RawMessage
	if json.Unmarshal(inviteState, &stripped) != nil {
		stripped = nil
	}
	state, err := json.Marshal(stripped)
	if err != nil {
		return nil, fmt.Errorf("encode invite state: %w", err)
	}
	if _, err := s.Rooms.ImportInvite(ctx, pdu, v, state); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("store invite %s: %w", e.EventID(), err)
	}
	return signed, nil
}
