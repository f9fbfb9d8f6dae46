package clientsync

// Spec: Client-Server API § Room History Visibility (server behaviour)
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-8
//
// Sync judges events with room.FilterVisible, as the room endpoints do:
// the history_visibility and the user's membership in the state before each
// event, and for rule 3 whether the user joined at any point after it.
// Timelines read from the store (initial syncs, new joins, rooms the client
// sees as left in full) go through it. The other windows of an incremental
// sync need no lookup: the user was joined before every event in them (no
// own membership change in the window, or only changes that kept them
// joined, or a leave after which the window stops), so rule 2 allows each.

import (
	"context"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// visibleEvents returns the events of one room that the user may see, in
// their order; evs are newest first, as RoomEventsRange returns them.
// joined reports whether the user is joined to the room now.
func (s *Service) visibleEvents(ctx context.Context, user id.UserID, joined bool, evs []store.Event) ([]store.Event, error) {
	visible, err := room.FilterVisible(ctx, s.db, user, joined, evs)
	if err != nil {
		return nil, err
	}
	if joined || len(evs) == 0 || len(visible) > 0 && visible[0].NID == evs[0].NID {
		return visible, nil
	}
	// NOTSPEC: the user's own leave or ban that ends an invite or a knock
	// is shown even where the rules hide it (history_visibility other
	// than invited), so that a client sees why the room left its invites
	// or knocks (a rejected invite, a denied knock and its reason);
	// Synapse makes the same exception for invites.
	ends, err := s.endsInvite(ctx, user, evs[0])
	if err != nil || !ends {
		return visible, err
	}
	return append([]store.Event{evs[0]}, visible...), nil
}

// membershipBefore returns the user's membership in the state before the
// stored event nid.
func (s *Service) membershipBefore(ctx context.Context, user id.UserID, nid int64) (string, error) {
	group, err := s.db.StateGroupBeforeEvent(ctx, nid)
	if errors.Is(err, store.ErrNotFound) {
		// No state is known before an invite to a room this server is
		// not in (room.Service.ImportInvite).
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state before event %d: %w", nid, err)
	}
	key := store.StateKey{Type: "m.room.member", StateKey: string(user)}
	keys, err := s.db.StateKeysAtGroup(ctx, group, []store.StateKey{key})
	if err != nil {
		return "", fmt.Errorf("state before event %d: %w", nid, err)
	}
	memberNID, ok := keys[key]
	if !ok {
		return "", nil
	}
	evs, err := s.db.EventsByNID(ctx, []int64{memberNID})
	if err != nil || len(evs) == 0 {
		return "", fmt.Errorf("load member event %d: %w", memberNID, err)
	}
	return authrules.Membership(event.RawContent(evs[0].JSON)), nil
}

// endsInvite reports whether a stored event is the user's own leave or ban
// that followed an invite or a knock.
func (s *Service) endsInvite(ctx context.Context, user id.UserID, e store.Event) (bool, error) {
	if e.Type != "m.room.member" || e.StateKey == nil || *e.StateKey != string(user) {
		return false, nil
	}
	if m := authrules.Membership(event.RawContent(e.JSON)); m != "leave" && m != "ban" {
		return false, nil
	}
	before, err := s.membershipBefore(ctx, user, e.NID)
	return before == "invite" || before == "knock", err
}
