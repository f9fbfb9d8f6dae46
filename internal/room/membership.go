package room

// Spec: Client-Server API § Room membership
// https://spec.matrix.org/v1.19/client-server-api/#room-membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Membership values, as the auth rules name them.
const (
	MembershipJoin   = authrules.MembershipJoin
	MembershipInvite = authrules.MembershipInvite
	MembershipLeave  = authrules.MembershipLeave
	MembershipBan    = authrules.MembershipBan
	MembershipKnock  = authrules.MembershipKnock
)

// MembershipChange is a request to change target's membership of a room.
type MembershipChange struct {
	Sender     id.UserID
	Target     id.UserID
	Membership string
	Reason     string
	// IsDirect marks an invite as a direct chat.
	IsDirect bool
	// Profile is copied into join, knock and invite events (displayname,
	// avatar_url): the target's profile.
	Profile map[string]string
	// Unban marks a leave of another user as an unban: the target must be
	// banned. Otherwise such a leave is a kick, and the target must be
	// joined, invited or knocking.
	Unban bool
}

// ChangeMembership sends the m.room.member event a join, invite, leave,
// kick, ban, unban or knock implies, and returns it. Whether the change is
// allowed is decided by the auth rules, and for a kick or an unban (a leave
// of another user) by the target's current membership, checked under the
// room lock: the spec's 403 for /kick covers "the kickee is not currently in
// the room" and /unban undoes a ban only, so neither may turn into the
// other or write a leave over a leave.
//
// A user of this server invited by another server to a room in which no
// user of this server is joined (the room is known from before they all
// left) gets ErrNotResident for their own join or leave: this server's
// state of the room is stale, so the change must go through the inviting
// server, as for a room this server does not know.
func (s *Service) ChangeMembership(ctx context.Context, roomID id.RoomID, c MembershipChange) (*event.PDU, error) {
	if c.Sender == c.Target && (c.Membership == MembershipJoin || c.Membership == MembershipLeave) {
		if out, err := s.invitedFromOutside(ctx, roomID, c.Target); err != nil {
			return nil, err
		} else if out {
			return nil, fmt.Errorf("%w: %s", ErrNotResident, roomID)
		}
	}
	var require func(state func(typ, stateKey string) *event.PDU) error
	if c.Membership == MembershipLeave && c.Sender != c.Target {
		require = func(state func(typ, stateKey string) *event.PDU) error {
			cur := authrules.MembershipOf(state("m.room.member", string(c.Target)))
			switch {
			case c.Unban && cur != MembershipBan:
				return fmt.Errorf("%w: %s is not banned from this room", ErrForbidden, c.Target)
			case !c.Unban && cur != MembershipJoin && cur != MembershipInvite && cur != MembershipKnock:
				// An invite or a knock counts: kicking revokes the invite or
				// denies the knock, as clients use it.
				return fmt.Errorf("%w: %s is not in this room", ErrForbidden, c.Target)
			}
			return nil
		}
	}
	content := map[string]any{"membership": c.Membership}
	if c.Reason != "" {
		content["reason"] = c.Reason
	}
	if c.IsDirect {
		content["is_direct"] = true
	}
	if c.Membership == MembershipJoin || c.Membership == MembershipKnock || c.Membership == MembershipInvite {
		for k, v := range c.Profile {
			if v != "" {
				content[k] = v
			}
		}
	}
	if c.Membership == MembershipJoin && c.Sender == c.Target {
		auth, err := s.joinAuthoriser(ctx, roomID, c.Target)
		if err != nil {
			return nil, err
		}
		if auth != "" {
			content[contentKeyAuthoriser] = auth
		}
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode member content: %w", err)
	}
	sk := string(c.Target)
	p := Proposal{Type: "m.room.member", StateKey: &sk, Sender: c.Sender, Content: raw, Require: require}
	if c.Membership == MembershipInvite && c.Target.Domain() != s.serverName {
		return s.inviteRemote(ctx, roomID, p)
	}
	pdu, _, err := s.Send(ctx, roomID, p)
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

// invitedFromOutside reports whether user's membership of the room is an
// invite of another server, stored while no user of this server was
// joined to the room (ImportInvite), and none is joined still.
func (s *Service) invitedFromOutside(ctx context.Context, roomID id.RoomID, user id.UserID) (bool, error) {
	ri, err := s.db.RemoteInvite(ctx, roomID, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := s.db.Membership(ctx, roomID, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m.Membership != MembershipInvite {
		return false, nil
	}
	if e, err := s.db.Event(ctx, ri.EventID); err != nil || e.NID != m.EventNID {
		// Not the invite the membership names: a later one is local.
		return false, err
	}
	members, err := s.db.JoinedMembers(ctx, roomID)
	if err != nil {
		return false, fmt.Errorf("load members of %s: %w", roomID, err)
	}
	for _, u := range members {
		if u.Domain() == s.serverName {
			return false, nil
		}
	}
	return true, nil
}
