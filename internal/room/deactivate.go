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
// account's non-event data goes too: the global profile (displayname,
// avatar_url and the extended fields), the sync filters and the account
// data, global and per room (tags, push rules and read markers included).
// Hafen binds no 3PIDs, and its user directory only finds users in rooms,
// which the user has left, so there is nothing more to remove.
//
// Sync and the push notifier keep copies of a user's push rules and
// ignore list in memory, but only to filter and count the user's own syncs
// and notifications, which nothing serves once the deactivation has
// removed the account's access tokens; every endpoint and sync section
// that returns account data reads the store.
//
// Erase also marks the account as erased: users and servers that were not
// in a room when the user sent an event there are served a redacted copy
// of it from then on (FilterVisible, and package fedevents for servers);
// those who were keep seeing it as it was, as the spec says. The stored
// events stay as they are.
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
