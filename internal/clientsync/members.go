package clientsync

// Spec: Client-Server API § Lazy-loading room members, and the room
// summary of § Syncing
// https://spec.matrix.org/v1.19/client-server-api/#lazy-loading-room-members

import (
	"context"
	"sort"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
)

// addLazyMembers adds, for lazy-loading clients, the member events of the
// timeline's senders that the timeline itself does not carry.
func (s *Service) addLazyMembers(ctx context.Context, req Request, roomID id.RoomID, jr *JoinedRoom, timeline []item, now int64) error {
	sf := stateFilter(req.Filter)
	if sf == nil || !sf.LazyLoadMembers || len(timeline) == 0 {
		return nil
	}
	inTimeline := map[string]bool{}
	for _, it := range timeline {
		if it.pdu.Type() == "m.room.member" {
			sk, _ := it.pdu.StateKey()
			inTimeline[sk] = true
		}
	}
	for _, ev := range jr.State.Events {
		if ev.Type == "m.room.member" && ev.StateKey != nil {
			inTimeline[*ev.StateKey] = true
		}
	}
	need := map[string]bool{}
	for _, it := range timeline {
		if snd := string(it.pdu.Sender()); !inTimeline[snd] {
			need[snd] = true
		}
	}
	if len(need) == 0 {
		return nil
	}
	state, err := s.rooms.CurrentState(ctx, roomID)
	if err != nil {
		return err
	}
	for _, ev := range state {
		if sk, ok := ev.StateKey(); ok && ev.Type() == "m.room.member" && need[sk] {
			jr.State.Events = append(jr.State.Events, s.format(req, item{pdu: ev}, now))
		}
	}
	return nil
}

// summary computes a room's heroes and member counts.
func (s *Service) summary(ctx context.Context, user id.UserID, roomID id.RoomID) (*Summary, error) {
	state, err := s.rooms.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	joined, invited := 0, 0
	var others []string
	for _, ev := range state {
		sk, ok := ev.StateKey()
		if !ok || ev.Type() != "m.room.member" {
			continue
		}
		switch authrules.Membership(ev.Content()) {
		case "join":
			joined++
		case "invite":
			invited++
		default:
			continue
		}
		if sk != string(user) {
			others = append(others, sk)
		}
	}
	sort.Strings(others)
	if len(others) > 5 {
		others = others[:5]
	}
	return &Summary{Heroes: others, JoinedMemberCount: &joined, InvitedMemberCount: &invited}, nil
}
