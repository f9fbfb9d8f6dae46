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
	"github.com/hafenchat/hafen/internal/store"
)

// addLazyMembers adds, for lazy-loading clients, the member events of the
// timeline's senders as of the start of the timeline ("the member events
// required to display the senders of the timeline events"), except where
// the state or the timeline itself shows the sender's membership before
// their first event. A sender whose membership the timeline changes only
// after they spoke (a kick, a leave, a rename) gets the member event that
// change replaced; the others get their member event of the room's state.
func (s *Service) addLazyMembers(ctx context.Context, req Request, roomID id.RoomID, jr *JoinedRoom, timeline []item, now int64) error {
	sf := stateFilter(req.Filter)
	if sf == nil || !sf.LazyLoadMembers || len(timeline) == 0 {
		return nil
	}
	inState := map[string]bool{}
	for _, ev := range jr.State.Events {
		if ev.Type == "m.room.member" && ev.StateKey != nil {
			inState[*ev.StateKey] = true
		}
	}
	spoke, shown := map[string]bool{}, map[string]bool{}
	need := map[string]bool{}     // senders whose member event the state must carry
	changed := map[string]item{}  // of those, the ones the timeline changes later: the first change
	for _, it := range timeline { // oldest first
		snd := string(it.pdu.Sender())
		sk, isMember := it.pdu.StateKey()
		isMember = isMember && it.pdu.Type() == "m.room.member"
		if isMember && sk == snd && !spoke[snd] {
			shown[sk] = true // the sender's own membership comes first: a join
		}
		if !spoke[snd] {
			spoke[snd] = true
			if !shown[snd] && !inState[snd] {
				need[snd] = true
			}
		}
		if isMember && !shown[sk] {
			shown[sk] = true
			if need[sk] {
				changed[sk] = it
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	if len(changed) < len(need) {
		state, err := s.rooms.CurrentState(ctx, roomID)
		if err != nil {
			return err
		}
		for _, ev := range state {
			if sk, ok := ev.StateKey(); ok && ev.Type() == "m.room.member" && need[sk] {
				if _, later := changed[sk]; !later {
					jr.State.Events = append(jr.State.Events, s.format(req, item{pdu: ev}, now))
				}
			}
		}
	}
	before, err := s.replacedByAll(ctx, roomID, changed)
	if err != nil {
		return err
	}
	for _, p := range before {
		jr.State.Events = append(jr.State.Events, s.format(req, item{pdu: p}, now))
	}
	return nil
}

// replacedByAll returns the state events that timeline state events
// replaced, where they replaced one, looking up those not known yet in
// one read.
func (s *Service) replacedByAll(ctx context.Context, roomID id.RoomID, items map[string]item) ([]*event.PDU, error) {
	var out []*event.PDU
	var lookup []store.Event
	for _, it := range items {
		if it.replacedKnown {
			if it.replaced != nil {
				out = append(out, it.replaced)
			}
			continue
		}
		nid, err := s.nidOf(ctx, it)
		if err != nil {
			return nil, err
		}
		sk, _ := it.pdu.StateKey()
		e := store.Event{NID: nid}
		e.EventID, e.RoomID, e.Type, e.StateKey = it.pdu.EventID(), roomID, it.pdu.Type(), &sk
		lookup = append(lookup, e)
	}
	if len(lookup) == 0 {
		return out, nil
	}
	prev, err := s.replacedStates(ctx, lookup)
	if err != nil {
		return nil, err
	}
	for _, e := range lookup {
		if p := prev[e.EventID]; p != nil {
			out = append(out, p)
		}
	}
	return out, nil
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
