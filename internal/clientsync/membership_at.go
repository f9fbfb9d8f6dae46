package clientsync

// Spec: Client-Server API § Room event format (unsigned.membership, since v1.11)
// https://spec.matrix.org/v1.19/client-server-api/#room-event-format

import (
	"context"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// timelineMemberships returns the user's membership at each of a room's
// timeline items (oldest first), including each item's own change: the
// unsigned.membership of the events. end is the membership after the last
// item ("join" for a room the response lists as joined). The walk goes
// backwards from there through the items, so it costs nothing in memory;
// only an item that is the user's own member event with older items
// before it needs a lookup of the membership it replaced.
func (s *Service) timelineMemberships(ctx context.Context, user id.UserID, items []item, end string) ([]string, error) {
	out := make([]string, len(items))
	memberKey := event.StateKey{Type: "m.room.member", StateKey: string(user)}
	cur := end
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		if !it.pdu.IsState() || it.pdu.StateKeyTuple() != memberKey {
			out[i] = cur
			continue
		}
		out[i] = authrules.MembershipOf(it.pdu)
		if i == 0 {
			break
		}
		prev, err := s.priorMembership(ctx, user, it)
		if err != nil {
			return nil, err
		}
		cur = prev
	}
	return out, nil
}

// priorMembership returns the user's membership in the state before
// their own member event it: "leave" when they had none.
func (s *Service) priorMembership(ctx context.Context, user id.UserID, it item) (string, error) {
	nid := it.nid
	if nid == 0 {
		e, err := s.db.Event(ctx, it.pdu.EventID())
		if err != nil {
			return "", fmt.Errorf("membership before %s: %w", it.pdu.EventID(), err)
		}
		nid = e.NID
	}
	m, err := s.membershipBefore(ctx, user, nid)
	if errors.Is(err, store.ErrNotFound) || err == nil && m == "" {
		return "leave", nil
	}
	return m, err
}

// endMembership is the user's membership after the last item of a room's
// timeline in a sync response: join for a room listed as joined, leave for
// a left one (whose own leave or ban, when among the items, sets it).
func endMembership(joined bool) string {
	if joined {
		return "join"
	}
	return "leave"
}
