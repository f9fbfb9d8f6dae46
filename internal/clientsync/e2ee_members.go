package clientsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// Device list changes that come from memberships: a user who starts
// sharing a room with the syncing user is "changed" (the client must fetch
// their keys), and one who no longer shares any room with it is "left".
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#tracking-the-device-list-for-a-user
//
// They are read from the membership events of the response itself, so a
// sync without such events costs nothing more. NOTSPEC: the spec speaks of
// encrypted rooms; Hafen counts every room, as the issue of which rooms are
// encrypted is the clients' (over-reporting only makes a client fetch keys
// again).

// memberEventsOf returns the m.room.member events among evs by target.
func memberEventsOf(evs []clientevent.Event, into map[id.UserID]string) {
	for _, ev := range evs {
		if ev.Type != "m.room.member" || ev.StateKey == nil {
			continue
		}
		into[id.UserID(*ev.StateKey)] = authrules.Membership(ev.Content)
	}
}

// joinedMembers returns the users joined to the room in its current state;
// none for a room this server is not in (a rejected invite).
func (s *Service) joinedMembers(ctx context.Context, roomID id.RoomID) ([]id.UserID, error) {
	state, err := s.rooms.CurrentState(ctx, roomID)
	if errors.Is(err, room.ErrRoomNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load state of %s: %w", roomID, err)
	}
	var out []id.UserID
	for _, pdu := range state {
		if sk, ok := pdu.StateKey(); ok && pdu.Type() == "m.room.member" && authrules.MembershipOf(pdu) == "join" {
			out = append(out, id.UserID(sk))
		}
	}
	return out, nil
}

// membershipDeviceLists returns the users who start (changed) or stop
// (left) sharing a room with req.User according to the membership events
// of resp.
func (s *Service) membershipDeviceLists(ctx context.Context, req Request, resp *Response) (changed, left map[id.UserID]bool, err error) {
	changed, left = map[id.UserID]bool{}, map[id.UserID]bool{}
	if resp.Rooms == nil {
		return changed, left, nil
	}
	maybeLeft := map[id.UserID]bool{}
	for roomID, jr := range resp.Rooms.Join {
		ms := map[id.UserID]string{}
		memberEventsOf(jr.State.Events, ms)
		memberEventsOf(jr.Timeline.Events, ms)
		if ms[req.User] == "join" {
			// The user joined (or changed its profile): everyone in the
			// room may be new to it.
			members, err := s.joinedMembers(ctx, id.RoomID(roomID))
			if err != nil {
				return nil, nil, err
			}
			for _, u := range members {
				changed[u] = true
			}
		}
		for u, m := range ms {
			switch {
			case u == req.User:
			case m == "join":
				changed[u] = true
			case m == "leave" || m == "ban":
				maybeLeft[u] = true
			}
		}
	}
	for roomID := range resp.Rooms.Leave {
		// The user left: everyone still in the room may share nothing
		// with it any more.
		members, err := s.joinedMembers(ctx, id.RoomID(roomID))
		if err != nil {
			return nil, nil, err
		}
		for _, u := range members {
			maybeLeft[u] = true
		}
	}
	delete(changed, req.User)
	delete(maybeLeft, req.User)
	for _, u := range slices.Sorted(maps.Keys(maybeLeft)) {
		if changed[u] {
			continue
		}
		shared, err := s.e2ee.keys.SharesRoom(ctx, req.User, u)
		if err != nil {
			return nil, nil, err
		}
		if !shared {
			left[u] = true
		}
	}
	return changed, left, nil
}
