package spaces

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Summary returns the summary of one room for a user (GET
// /_matrix/client/v1/room_summary, spec v1.15) and the user's membership
// of it ("" when they have none): from this server's state when it knows
// the room, else as the first of via (then the server of a room ID that
// names one) describes it over federation. The user sees the rooms a
// space hierarchy would show them: joined or invited, world readable,
// public or knockable, or restricted to a room they are joined to;
// ErrForbidden for any other room and for rooms nobody here or among via
// can describe, so that the two cannot be told apart.
func (s *Service) Summary(ctx context.Context, user id.UserID, roomID id.RoomID, via []id.ServerName) (Room, string, error) {
	w := &walk{s: s, user: user, remote: map[id.RoomID]*Room{}, remoteSeen: map[id.RoomID]bool{}}
	r, known, err := w.local(ctx, roomID)
	if err != nil {
		return Room{}, "", err
	}
	if !known {
		if d := roomID.Domain(); d != "" && !slices.Contains(via, d) {
			via = append(via, d)
		}
		rr := w.fetchRemote(ctx, roomID, via)
		if rr == nil {
			return Room{}, "", fmt.Errorf("%w: %s", ErrForbidden, roomID)
		}
		r = *rr
	}
	// Invites to rooms of other servers are known here too, so the
	// membership is looked up either way.
	ok, err := w.userMaySee(ctx, r, true)
	if err != nil {
		return Room{}, "", err
	}
	if !ok {
		return Room{}, "", fmt.Errorf("%w: %s", ErrForbidden, roomID)
	}
	membership := ""
	m, err := s.DB.Membership(ctx, roomID, user)
	switch {
	case err == nil:
		membership = m.Membership
	case !errors.Is(err, store.ErrNotFound):
		return Room{}, "", fmt.Errorf("membership of %s in %s: %w", user, roomID, err)
	}
	return r, membership, nil
}
