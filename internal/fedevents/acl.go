package fedevents

import (
	"context"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/serveracl"
)

// CheckACL returns an error wrapping ErrDeniedByACL if the room's current
// m.room.server_acl denies server, and the event path's error (for example
// room.ErrRoomNotFound) if the room is unknown.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#server-access-control-lists-acls
func (s *Service) CheckACL(ctx context.Context, roomID id.RoomID, server id.ServerName) error {
	ev, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.server_acl", "")
	if err != nil {
		return err
	}
	if ev == nil {
		return nil
	}
	if !serveracl.Parse(ev.Content()).Allows(server) {
		return fmt.Errorf("%w: %s in %s", ErrDeniedByACL, server, roomID)
	}
	return nil
}

// inRoom reports whether a user of this server is joined to the room.
func (s *Service) inRoom(ctx context.Context, roomID id.RoomID) (bool, error) {
	members, err := s.DB.JoinedMembers(ctx, roomID)
	if err != nil {
		return false, fmt.Errorf("load members of %s: %w", roomID, err)
	}
	for _, m := range members {
		if m.Domain() == s.ServerName {
			return true, nil
		}
	}
	return false, nil
}

// ResidentServers returns the servers with a user joined to the room, this
// server first (it answers for the room), the others in order of name.
func (s *Service) ResidentServers(ctx context.Context, roomID id.RoomID) ([]id.ServerName, error) {
	members, err := s.DB.JoinedMembers(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("load members of %s: %w", roomID, err)
	}
	seen := map[id.ServerName]bool{s.ServerName: true}
	var others []id.ServerName
	for _, m := range members {
		if d := m.Domain(); !seen[d] {
			seen[d] = true
			others = append(others, d)
		}
	}
	slices.Sort(others)
	return append([]id.ServerName{s.ServerName}, others...), nil
}
