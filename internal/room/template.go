package room

// Spec: Server-Server API § Joining Rooms, § Leaving Rooms (make_join,
// make_leave)
// https://spec.matrix.org/v1.19/server-server-api/#joining-rooms

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// MembershipTemplate builds, on the room's current head, the m.room.member
// event by which user (of another server) changes its own membership to
// what content says, checks it against the auth rules and returns it
// without hashes and signatures (and, in room v1/v2, without an event ID):
// the user's server fills them in and sends the event back (send_join,
// send_leave). It also returns the room's version. Errors wrap
// ErrRoomNotFound, ErrForbidden (the auth rules refuse the event) or
// ErrInvalidRequest.
func (s *Service) MembershipTemplate(ctx context.Context, roomID id.RoomID, user id.UserID, content json.RawMessage) (json.RawMessage, string, error) {
	sk := string(user)
	pdu, v, err := s.buildOnHead(ctx, roomID, Proposal{Type: "m.room.member", StateKey: &sk, Sender: user, Content: content})
	if err != nil {
		return nil, "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(pdu.JSON(), &fields); err != nil {
		return nil, "", fmt.Errorf("template of %s: %w", roomID, err)
	}
	delete(fields, "signatures")
	delete(fields, "hashes")
	delete(fields, "event_id")
	tmpl, err := json.Marshal(fields)
	if err != nil {
		return nil, "", fmt.Errorf("template of %s: %w", roomID, err)
	}
	return tmpl, string(v.ID), nil
}

// JoinAuthoriser returns the local user to name in a restricted join's
// join_authorised_via_users_server when target joins roomID, or "" if the
// join needs none (see joinAuthoriser). Errors wrap ErrForbidden (target
// satisfies none of the allow conditions) or ErrUnableToGrantJoin.
func (s *Service) JoinAuthoriser(ctx context.Context, roomID id.RoomID, target id.UserID) (id.UserID, error) {
	return s.joinAuthoriser(ctx, roomID, target)
}
