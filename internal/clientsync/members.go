package clientsync

// Spec: Client-Server API § Lazy-loading room members, and the room
// summary of § Syncing
// https://spec.matrix.org/v1.19/client-server-api/#lazy-loading-room-members

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
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

// maxHeroes is how many heroes a room summary names.
const maxHeroes = 5

// summary computes a room's heroes and member counts, and returns the
// heroes' member events. The heroes are the first members other than user
// to have joined or been invited, in the order of their member events
// (their depth in the room); when there are none, the first to have left
// or been banned. A room with a name or a canonical alias, which clients
// name by it, has none.
func (s *Service) summary(ctx context.Context, user id.UserID, roomID id.RoomID) (*Summary, []*event.PDU, error) {
	state, err := s.rooms.CurrentState(ctx, roomID)
	if err != nil {
		return nil, nil, err
	}
	joined, invited := 0, 0
	var present, gone []*event.PDU
	named := false
	for _, ev := range state {
		sk, ok := ev.StateKey()
		if ev.IsStateKey("m.room.name", "") || ev.IsStateKey("m.room.canonical_alias", "") {
			var c struct {
				Name  any `json:"name"`
				Alias any `json:"alias"`
			}
			_ = json.Unmarshal(ev.Content(), &c) // unreadable content names nothing
			name, _ := c.Name.(string)
			alias, _ := c.Alias.(string)
			named = named || name != "" || alias != ""
		}
		if !ok || ev.Type() != "m.room.member" {
			continue
		}
		m := authrules.Membership(ev.Content())
		switch m {
		case "join":
			joined++
		case "invite":
			invited++
		}
		if sk == string(user) {
			continue
		}
		switch m {
		case "join", "invite":
			present = append(present, ev)
		case "leave", "ban":
			gone = append(gone, ev)
		}
	}
	heroes := present
	if len(heroes) == 0 {
		heroes = gone
	}
	if named {
		heroes = nil
	}
	slices.SortFunc(heroes, func(a, b *event.PDU) int {
		if c := cmp.Compare(a.Depth(), b.Depth()); c != 0 {
			return c
		}
		ka, _ := a.StateKey()
		kb, _ := b.StateKey()
		return strings.Compare(ka, kb)
	})
	heroes = heroes[:min(len(heroes), maxHeroes)]
	ids := make([]string, len(heroes))
	for i, ev := range heroes {
		ids[i], _ = ev.StateKey()
	}
	return &Summary{Heroes: ids, JoinedMemberCount: &joined, InvitedMemberCount: &invited}, heroes, nil
}

// addHeroMembers adds, for lazy-loading clients, the member events of a
// room's heroes that the answer's state and timeline do not carry: the
// spec requires them, so that the client can name the room.
func (s *Service) addHeroMembers(req Request, jr *JoinedRoom, heroes []*event.PDU, now int64) {
	sf := stateFilter(req.Filter)
	if sf == nil || !sf.LazyLoadMembers || len(heroes) == 0 {
		return
	}
	have := map[string]bool{}
	for _, evs := range [][]clientevent.Event{jr.State.Events, jr.Timeline.Events} {
		for _, ev := range evs {
			if ev.Type == "m.room.member" && ev.StateKey != nil {
				have[*ev.StateKey] = true
			}
		}
	}
	added := false
	for _, ev := range heroes {
		if sk, _ := ev.StateKey(); !have[sk] && sf.MatchEvent(string(ev.RoomID()), ev.Type(), string(ev.Sender()), ev.Content()) {
			jr.State.Events = append(jr.State.Events, s.format(req, item{pdu: ev}, now))
			added = true
		}
	}
	if added {
		sortState(jr.State.Events)
	}
}
