package room

// Spec: Server-Server API § Inviting to a room (the inviting server's side)
// https://spec.matrix.org/v1.19/server-server-api/#inviting-to-a-room

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// RemoteInviter asks the server of an invited user to sign the invite
// (PUT /_matrix/federation/v2/invite) and returns the event it signed.
// *fedjoin.Inviter implements it.
type RemoteInviter interface {
	SignInvite(ctx context.Context, v *roomversion.Version, invite *event.PDU, inviteState []json.RawMessage) (json.RawMessage, error)
}

// inviteRemote invites a user of another server: the invite is built on
// the room's head and checked, the invitee's server signs it, and the
// signed event then enters the room like an event of another server (the
// head may have moved meanwhile; it is then a fork that the next event
// merges).
func (s *Service) inviteRemote(ctx context.Context, roomID id.RoomID, p Proposal) (*event.PDU, error) {
	if s.inviter == nil {
		return nil, fmt.Errorf("%w: inviting %s needs federation, which is not configured", ErrForbidden, *p.StateKey)
	}
	pdu, v, err := s.buildOnHead(ctx, roomID, p)
	if err != nil {
		return nil, err
	}
	state, err := s.inviteState(ctx, roomID, p.Sender)
	if err != nil {
		return nil, err
	}
	signed, err := s.inviter.SignInvite(ctx, v, pdu, state)
	if err != nil {
		return nil, fmt.Errorf("%w: the server of %s refused the invite: %w", ErrForbidden, *p.StateKey, err)
	}
	res := s.ProcessRemote(ctx, s.serverName, []json.RawMessage{signed})[0]
	if res.Verdict != pducheck.Accept {
		return nil, fmt.Errorf("%w: the signed invite of %s: %s: %w", ErrForbidden, *p.StateKey, res.Verdict, res.Err)
	}
	out, err := event.Parse(signed, v)
	if err != nil {
		return nil, fmt.Errorf("parse the signed invite: %w", err)
	}
	return out, nil
}

// inviteState is the stripped state an invite carries to the invitee's
// server: the types the spec recommends and the inviter's membership.
func (s *Service) inviteState(ctx context.Context, roomID id.RoomID, inviter id.UserID) ([]json.RawMessage, error) {
	var out []json.RawMessage
	add := func(typ, stateKey string) error {
		ev, err := s.CurrentStateEvent(ctx, roomID, typ, stateKey)
		if err != nil || ev == nil {
			return err
		}
		raw, err := json.Marshal(clientevent.Strip(ev))
		if err != nil {
			return fmt.Errorf("encode stripped %s: %w", typ, err)
		}
		out = append(out, raw)
		return nil
	}
	for _, typ := range clientevent.StrippedStateTypes {
		if err := add(typ, ""); err != nil {
			return nil, err
		}
	}
	if err := add("m.room.member", string(inviter)); err != nil {
		return nil, err
	}
	return out, nil
}

// buildOnHead builds and signs an event on the room's current head and
// checks it against the auth rules, without persisting it.
func (s *Service) buildOnHead(ctx context.Context, roomID id.RoomID, p Proposal) (*event.PDU, *roomversion.Version, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := s.ensureLoaded(ctx, roomID, rs); err != nil {
		return nil, nil, err
	}
	b := s.newBatch(ctx, roomID, rs)
	prevs := b.o.prevEvents()
	var before stateReader = b.o
	if len(prevs) < len(b.o.extremities) {
		st, err := b.dagView().stateBefore(ids(prevs))
		if err != nil {
			return nil, nil, err
		}
		before = st
	}
	pdu, err := s.buildAndCheck(roomID, b.v, before, prevs, p)
	if err != nil {
		return nil, nil, err
	}
	return pdu, b.v, nil
}
