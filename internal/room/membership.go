package room

// Spec: Client-Server API § Room membership
// https://spec.matrix.org/v1.19/client-server-api/#room-membership

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Membership values.
const (
	MembershipJoin   = "join"
	MembershipInvite = "invite"
	MembershipLeave  = "leave"
	MembershipBan    = "ban"
	MembershipKnock  = "knock"
)

// MembershipChange is a request to change target's membership of a room.
type MembershipChange struct {
	Sender     id.UserID
	Target     id.UserID
	Membership string
	Reason     string
	// IsDirect marks an invite as a direct chat.
	IsDirect bool
	// Profile is copied into join events (displayname, avatar_url).
	Profile map[string]string
}

// ChangeMembership sends the m.room.member event a join, invite, leave,
// kick, ban, unban or knock implies, and returns it. Whether the change is
// allowed is decided by the auth rules alone.
func (s *Service) ChangeMembership(ctx context.Context, roomID id.RoomID, c MembershipChange) (*event.PDU, error) {
	if c.Target.Domain() != s.serverName && c.Membership == MembershipInvite {
		// TODO(#3): invites to other servers need the federation API.
		return nil, fmt.Errorf("%w: inviting %s needs federation, which this server does not offer yet", ErrForbidden, c.Target)
	}
	content := map[string]any{"membership": c.Membership}
	if c.Reason != "" {
		content["reason"] = c.Reason
	}
	if c.IsDirect {
		content["is_direct"] = true
	}
	if c.Membership == MembershipJoin || c.Membership == MembershipKnock {
		for k, v := range c.Profile {
			if v != "" {
				content[k] = v
			}
		}
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode member content: %w", err)
	}
	sk := string(c.Target)
	pdu, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.member", StateKey: &sk, Sender: c.Sender, Content: raw})
	return pdu, err
}

// CurrentMembership returns user's membership of a room from the room head,
// or "" if the user has none.
func (s *Service) CurrentMembership(ctx context.Context, roomID id.RoomID, user id.UserID) (string, error) {
	ev, err := s.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err != nil || ev == nil {
		return "", err
	}
	return authrules.MembershipOf(ev), nil
}

// CurrentStateEvent returns the current state event (typ, stateKey) of a
// room, or nil if there is none.
func (s *Service) CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (*event.PDU, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	rs.head.RLock()
	defer rs.head.RUnlock()
	return rs.state[event.StateKey{Type: typ, StateKey: stateKey}], nil
}

// Version returns a room's version.
func (s *Service) Version(ctx context.Context, roomID id.RoomID) (string, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	return string(rs.version.ID), nil
}

// CurrentState returns a copy of a room's current state.
func (s *Service) CurrentState(ctx context.Context, roomID id.RoomID) ([]*event.PDU, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	rs.head.RLock()
	defer rs.head.RUnlock()
	out := make([]*event.PDU, 0, len(rs.state))
	for _, ev := range rs.state {
		out = append(out, ev)
	}
	return out, nil
}
