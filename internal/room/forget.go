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
// nothing for a room the user was never in (also one this server does not
// know).
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidforget
func (s *Service) Forget(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	membership, err := s.currentMembership(ctx, user, roomID)
	if err != nil {
		return err
	}
	switch membership {
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

// currentMembership returns the user's membership in a room: from the
// room's current state, or, for a room this server is not in (an invite
// from another server, rejected or pending), from the user's membership
// record; "" if there is none.
func (s *Service) currentMembership(ctx context.Context, user id.UserID, roomID id.RoomID) (string, error) {
	cur, err := s.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err == nil {
		return authrules.MembershipOf(cur), nil
	}
	if !errors.Is(err, ErrRoomNotFound) {
		return "", err
	}
	m, err := s.db.Membership(ctx, roomID, user)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("membership of %s in %s: %w", user, roomID, err)
	}
	return m.Membership, nil
}
