package room

import (
	"context"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Forget forgets a room the user has left or was banned from: sync leaves
// it out until the user joins, is invited or knocks again. It returns
// ErrStillMember while the user is joined, invited or knocking, and does
// nothing for a room the user was never in.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidforget
func (s *Service) Forget(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	cur, err := s.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err != nil {
		return err
	}
	switch authrules.MembershipOf(cur) {
	case MembershipJoin, MembershipInvite, MembershipKnock:
		return ErrStillMember
	case MembershipLeave, MembershipBan:
		err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.ForgetRoom(ctx, user, roomID) })
		if errors.Is(err, store.ErrNotFound) {
			// The membership changed since it was read above.
			return ErrStillMember
		}
		if err != nil {
			return fmt.Errorf("forget %s for %s: %w", roomID, user, err)
		}
	}
	return nil
}
