package clientsync

// Spec: Client-Server API § Leaving rooms
// https://spec.matrix.org/v1.19/client-server-api/#leaving-rooms

import (
	"context"

	"github.com/hafenchat/hafen/internal/core/id"
)

// forgotten returns the rooms the user has forgotten (POST
// /rooms/{roomId}/forget) and not joined, been invited to or knocked on
// since; sync leaves them out.
func (s *Service) forgotten(ctx context.Context, user id.UserID) (map[id.RoomID]bool, error) {
	rooms, err := s.db.ForgottenRooms(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make(map[id.RoomID]bool, len(rooms))
	for _, r := range rooms {
		out[r] = true
	}
	return out, nil
}
