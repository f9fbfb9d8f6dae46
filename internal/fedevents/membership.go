package fedevents

// Spec: Server-Server API § Joining Rooms, § Leaving Rooms (Rejecting
// Invites)
// https://spec.matrix.org/v1.19/server-server-api/#joining-rooms
// https://spec.matrix.org/v1.19/server-server-api/#leaving-rooms-rejecting-invites

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Memberships is what the membership endpoints need of the event path
// beyond Rooms (*room.Service).
type Memberships interface {
	MembershipTemplate(ctx context.Context, roomID id.RoomID, user id.UserID, content json.RawMessage) (json.RawMessage, string, error)
	JoinAuthoriser(ctx context.Context, roomID id.RoomID, target id.UserID) (id.UserID, error)
}

// contentKeyAuthoriser names the authorising user of a restricted join.
const contentKeyAuthoriser = "join_authorised_via_users_server"

// MakeMembership answers make_join (membership "join"), make_knock
// ("knock") and make_leave ("leave"): the template of user's member event, built on the room's
// current head, and the room's version. versions are the room versions
// the asking server supports (make_join's and make_knock's ver; ["1"]
// when none is given); make_leave passes nil. Errors wrap ErrWrongServer, room.ErrRoomNotFound,
// ErrNotInRoom, ErrDeniedByACL, ErrIncompatibleVersion, and the event
// path's ErrForbidden and ErrUnableToGrantJoin.
func (s *Service) MakeMembership(ctx context.Context, origin id.ServerName, roomID id.RoomID, user id.UserID, membership string, versions []string) (json.RawMessage, string, error) {
	if user.Domain() != origin {
		return nil, "", fmt.Errorf("%w: %s is not a user of %s", ErrWrongServer, user, origin)
	}
	v, err := s.residentRoom(ctx, origin, roomID)
	if err != nil {
		return nil, "", err
	}
	if membership == "join" || membership == "knock" {
		if len(versions) == 0 {
			versions = []string{"1"}
		}
		if !slices.Contains(versions, string(v.ID)) {
			return nil, string(v.ID), fmt.Errorf("%w: %s", ErrIncompatibleVersion, v.ID)
		}
	}
	content := map[string]any{"membership": membership}
	if membership == "join" {
		auth, err := s.Members.JoinAuthoriser(ctx, roomID, user)
		if errors.Is(err, room.ErrForbidden) {
			if known, kerr := s.knowsAllowedRoom(ctx, roomID); kerr == nil && !known {
				return nil, "", fmt.Errorf("%w: %w", ErrUnableToAuthorise, err)
			}
		}
		if err != nil {
			return nil, "", err
		}
		if auth != "" {
			content[contentKeyAuthoriser] = auth
		}
	}
	raw, _ := json.Marshal(content)
	return s.Members.MembershipTemplate(ctx, roomID, user, raw)
}

// knowsAllowedRoom reports whether this server is in one of the rooms a
// restricted room's join rules allow, so that it can tell whether a user
// is joined to it.
func (s *Service) knowsAllowedRoom(ctx context.Context, roomID id.RoomID) (bool, error) {
	jr, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.join_rules", "")
	if err != nil || jr == nil {
		return false, err
	}
	var c struct {
		Allow []struct {
			Type   string    `json:"type"`
			RoomID id.RoomID `json:"room_id"`
		} `json:"allow"`
	}
	json.Unmarshal(jr.Content(), &c)
	for _, a := range c.Allow {
		if a.Type != "m.room_membership" {
			continue
		}
		in, err := s.inRoom(ctx, a.RoomID)
		if err != nil {
			return false, err
		}
		if in {
			return true, nil
		}
	}
	return false, nil
}

// residentRoom checks that this server is in the room and its ACL allows
// origin, and returns the room's version.
func (s *Service) residentRoom(ctx context.Context, origin id.ServerName, roomID id.RoomID) (*roomversion.Version, error) {
	v, err := s.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	in, err := s.inRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if !in {
		return nil, fmt.Errorf("%w: %s", ErrNotInRoom, roomID)
	}
	if err := s.CheckACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	return v, nil
}

// MembershipResult is the answer to send_join, send_leave and send_knock.
type MembershipResult struct {
	// KnockState is, for a knock, the room's current state events of the
	// stripped-state types, as PDUs.
	KnockState []json.RawMessage
	// State is the room's state before the join; AuthChain the auth chain
	// of that state and of the join.
	State     []store.Event
	AuthChain []store.Event
	// Event is the join as this server accepted it: with this server's
	// signature added when it authorised a restricted join.
	Event json.RawMessage
	// Signed reports that this server signed the join (a restricted join).
	Signed bool
}

// SendMembership accepts a member event of origin's user signed by origin
// (send_join with membership "join", send_leave with "leave", send_knock
// with "knock"), through
// the event path, and for a join returns the state before it and the auth
// chain, and for a knock the room's stripped state. A restricted join naming a user of this server as its authoriser
// is signed by this server first. Errors wrap room.ErrRoomNotFound,
// ErrNotInRoom, ErrDeniedByACL, ErrBadEvent or ErrMembershipRefused.
func (s *Service) SendMembership(ctx context.Context, origin id.ServerName, roomID id.RoomID, eventID id.EventID, raw json.RawMessage, membership string) (MembershipResult, error) {
	v, err := s.residentRoom(ctx, origin, roomID)
	if err != nil {
		return MembershipResult{}, err
	}
	e, err := event.Parse(raw, v)
	if err != nil {
		return MembershipResult{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	var content struct {
		Membership string `json:"membership"`
		Authoriser string `json:"join_authorised_via_users_server"`
	}
	json.Unmarshal(e.Content(), &content)
	sk, isState := e.StateKey()
	switch {
	case e.EventID() != eventID:
		return MembershipResult{}, fmt.Errorf("%w: the event's ID is %s, not %s", ErrBadEvent, e.EventID(), eventID)
	case e.RoomID() != roomID:
		return MembershipResult{}, fmt.Errorf("%w: the event is in %s, not %s", ErrBadEvent, e.RoomID(), roomID)
	case e.Type() != "m.room.member" || !isState:
		return MembershipResult{}, fmt.Errorf("%w: the event is not an m.room.member event", ErrBadEvent)
	case content.Membership != membership:
		return MembershipResult{}, fmt.Errorf("%w: membership is %q, not %q", ErrBadEvent, content.Membership, membership)
	case e.Sender().Domain() != origin:
		return MembershipResult{}, fmt.Errorf("%w: the sender %s is not a user of %s", ErrBadEvent, e.Sender(), origin)
	case sk != string(e.Sender()):
		return MembershipResult{}, fmt.Errorf("%w: the state key is not the sender", ErrBadEvent)
	}
	signed := false
	if membership == "join" && content.Authoriser != "" {
		if id.UserID(content.Authoriser).Domain() == s.ServerName {
			if raw, err = event.Sign(raw, v, s.Key); err != nil {
				return MembershipResult{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
			}
			signed = true
			if e, err = event.Parse(raw, v); err != nil {
				return MembershipResult{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
			}
		}
	}
	// The event's signatures (this server's included, if it signed) are
	// checked here already, so that a bad one is the spec's 400 rather
	// than a refusal.
	s.ensureKeysRaw(ctx, raw, v)
	if err := event.VerifySignatures(e, s.Keys.Lookup); err != nil {
		return MembershipResult{}, fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	res := s.Rooms.ProcessRemote(ctx, origin, []json.RawMessage{raw})[0]
	if res.Verdict != pducheck.Accept {
		if res.Err == nil {
			res.Err = errors.New(res.Verdict.String())
		}
		return MembershipResult{}, fmt.Errorf("%w: %w", ErrMembershipRefused, res.Err)
	}
	out := MembershipResult{Event: raw, Signed: signed}
	if membership == "knock" {
		for _, typ := range clientevent.StrippedStateTypes {
			ev, err := s.Rooms.CurrentStateEvent(ctx, roomID, typ, "")
			if err != nil {
				return MembershipResult{}, err
			}
			if ev != nil {
				out.KnockState = append(out.KnockState, ev.JSON())
			}
		}
		return out, nil
	}
	if membership != "join" {
		return out, nil
	}
	ev, err := s.storedEvent(ctx, eventID, roomID)
	if err != nil {
		return MembershipResult{}, err
	}
	if out.State, err = s.stateBefore(ctx, ev); err != nil {
		return MembershipResult{}, err
	}
	if out.AuthChain, err = s.authChain(ctx, v, append(slices.Clip(out.State), ev)); err != nil {
		return MembershipResult{}, err
	}
	return out, nil
}
