package room

// Spec: Client-Server API § Account deactivation
// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountdeactivate

import (
	"context"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Deactivate carries out what deactivating a local account means for its
// rooms and data. It may run more than once for one user: each run leaves
// what is left.
//
// The user leaves every room they are joined to, rejects every pending
// invite and retracts every knock, each with a leave event sent as the
// user (rooms they are banned from stay as they are). With erase, the
// account's non-event data goes too: the global displayname and avatar_url
// and the sync filters. Hafen keeps no account data, 3PIDs or user
// directory entries, so there is nothing more to remove.
//
// NOTSPEC: erase does not yet hide the user's events from users who join
// their rooms later (the spec's "served redacted copies"); the events stay
// as they are.
func (s *Service) Deactivate(ctx context.Context, user id.UserID, erase bool) error {
	var errs []error
	for _, membership := range []string{MembershipJoin, MembershipInvite, MembershipKnock} {
		ms, err := s.db.UserMemberships(ctx, user, membership)
		if err != nil {
			return fmt.Errorf("list rooms of %s: %w", user, err)
		}
		for _, m := range ms {
			_, err := s.ChangeMembership(ctx, m.RoomID, MembershipChange{Sender: user, Target: user, Membership: MembershipLeave})
			// Forbidden: the membership changed since it was listed (a
			// kick, a ban), so the user is out already.
			if err != nil && !errors.Is(err, ErrForbidden) {
				errs = append(errs, fmt.Errorf("leave %s: %w", m.RoomID, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("leave the rooms of %s: %w", user, err)
	}
	if erase {
		if err := s.db.Write(ctx, func(tx *store.Tx) error { return tx.EraseUserData(ctx, user) }); err != nil {
			return fmt.Errorf("erase data of %s: %w", user, err)
		}
	}
	return nil
}
