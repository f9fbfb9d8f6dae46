package clientsync

// Spec: Client-Server API § Room History Visibility (server behaviour)
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-8

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/core/id"
	"github.com/hafenchat/hafen/room"
	"github.com/hafenchat/hafen/store"
)

var historyVisibilityKey = store.StateKey{Type: "m.room.history_visibility"}

// visibleItems returns the items, oldest first, that the user may see
// under the room's history visibility. before is the state before the
// first item; the walk applies the history visibility and the user's own
// membership events of the window as it goes, so each event is judged by
// the state at that event. joinedNow reports whether the user is joined
// to the room now.
//
// The user's own membership events are always visible, so that a client
// sees why a room left its joined or invited list (as Synapse and
// Dendrite do).
//
// NOTSPEC: rule 3 ("shared") needs to know whether the user joined at some
// point after the event; sync answers it from the user's joins later in
// the window and the current membership.
func (s *Service) visibleItems(ctx context.Context, user id.UserID, items []item, before map[store.StateKey]int64, joinedNow bool) ([]item, error) {
	memberKey := store.StateKey{Type: "m.room.member", StateKey: string(user)}
	var nids []int64
	for _, k := range []store.StateKey{historyVisibilityKey, memberKey} {
		if nid, ok := before[k]; ok {
			nids = append(nids, nid)
		}
	}
	var history, membership string
	if len(nids) > 0 {
		evs, err := s.db.EventsByNID(ctx, nids)
		if err != nil {
			return nil, fmt.Errorf("load visibility state: %w", err)
		}
		for _, e := range evs {
			switch e.NID {
			case before[historyVisibilityKey]:
				history = historyOf(contentOf(e.JSON))
			case before[memberKey]:
				membership = membershipOf(contentOf(e.JSON))
			}
		}
	}
	// joinedLater[i]: the user joins after item i.
	joinedLater := make([]bool, len(items))
	later := joinedNow
	for i := len(items) - 1; i >= 0; i-- {
		joinedLater[i] = later
		if items[i].pdu.IsStateKey("m.room.member", string(user)) && membershipOf(items[i].pdu.Content()) == "join" {
			later = true
		}
	}
	out := make([]item, 0, len(items))
	for i, it := range items {
		v := room.EventVisibility{HistoryBefore: history, MembershipBefore: membership}
		own := it.pdu.IsStateKey("m.room.member", string(user))
		if own {
			membership = membershipOf(it.pdu.Content())
		}
		if it.pdu.IsStateKey("m.room.history_visibility", "") {
			history = historyOf(it.pdu.Content())
		}
		v.HistoryAfter, v.MembershipAfter = history, membership
		if own || v.Allows(joinedLater[i]) {
			out = append(out, it)
		}
	}
	return out, nil
}

func historyOf(content json.RawMessage) string {
	var c struct {
		HistoryVisibility string `json:"history_visibility"`
	}
	_ = json.Unmarshal(content, &c) // no valid setting counts as shared
	return c.HistoryVisibility
}
