package clientsync

import (
	"context"

	"github.com/hafenchat/hafen/internal/core/id"
)

// initial computes an initial sync at stream position pos.
func (s *Service) initial(ctx context.Context, req Request, pos int64) (*Response, error) {
	ms, err := s.memberships(ctx, req.User)
	if err != nil {
		return nil, err
	}
	resp := &Response{NextBatch: Token(pos), Rooms: newRooms()}
	req.bundles = &bundleBatch{}
	req.prevStates = &prevStateBatch{}
	var forgotten map[id.RoomID]bool
	if req.Filter.Room != nil && req.Filter.Room.IncludeLeave {
		if forgotten, err = s.forgotten(ctx, req.User); err != nil {
			return nil, err
		}
	}
	for roomID, membership := range ms {
		if !req.Filter.Room.MatchRoom(string(roomID)) {
			continue
		}
		if (membership == "leave" || membership == "ban") && forgotten[roomID] {
			continue
		}
		if err := s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, nil); err != nil {
			return nil, err
		}
	}
	if err := s.flushBundles(ctx, req); err != nil {
		return nil, err
	}
	if err := s.flushPrevStates(ctx, req); err != nil {
		return nil, err
	}
	return resp, nil
}
