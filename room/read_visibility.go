package room

// Spec: Client-Server API § Room History Visibility (server behaviour)
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-8

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/core/id"
	"github.com/hafenchat/hafen/store"
)

// History visibility values of m.room.history_visibility.
const (
	HistoryWorldReadable = "world_readable"
	HistoryShared        = "shared"
	HistoryInvited       = "invited"
	HistoryJoined        = "joined"
)

// CanSeeEvent applies the spec's five rules to one event, given the room's
// history_visibility and the user's membership in the state at that event.
// joinedLater reports whether the user joined the room at some point after
// the event; Hafen answers it with "the user is joined now". An empty or
// unknown history_visibility counts as shared.
func CanSeeEvent(historyVisibility, membership string, joinedLater bool) bool {
	switch historyVisibility {
	case HistoryWorldReadable, HistoryShared, HistoryInvited, HistoryJoined:
	default:
		historyVisibility = HistoryShared
	}
	switch {
	case historyVisibility == HistoryWorldReadable: // 1.
		return true
	case membership == MembershipJoin: // 2.
		return true
	case historyVisibility == HistoryShared && joinedLater: // 3.
		return true
	case membership == MembershipInvite && historyVisibility == HistoryInvited: // 4.
		return true
	}
	return false // 5.
}

// EventVisibility is what the visibility rules need to know about one event
// for one user: the history_visibility and the user's membership before the
// event and after it. Before and after differ only for an
// m.room.history_visibility event and for the user's own m.room.member
// events.
type EventVisibility struct {
	HistoryBefore, HistoryAfter       string
	MembershipBefore, MembershipAfter string
}

// Allows reports whether the user may see the event: the rules must allow
// it with the state before the event or, for history_visibility events and
// the user's own membership events, with the state after it.
func (v EventVisibility) Allows(joinedLater bool) bool {
	return CanSeeEvent(v.HistoryBefore, v.MembershipBefore, joinedLater) ||
		CanSeeEvent(v.HistoryAfter, v.MembershipAfter, joinedLater)
}

// VisibilityStore is the storage the visibility filter reads. store.DB
// implements it.
type VisibilityStore interface {
	StateGroupsBeforeEvents(ctx context.Context, nids []int64) (map[int64]int64, error)
	StateKeysAtGroup(ctx context.Context, groupID int64, keys []store.StateKey) (map[store.StateKey]int64, error)
	EventsByNID(ctx context.Context, nids []int64) ([]store.Event, error)
}

var _ VisibilityStore = (*store.DB)(nil)

var historyKey = store.StateKey{Type: "m.room.history_visibility"}

// FilterVisible returns the events user may see, in their order. joinedNow
// reports whether the user is joined to the room now (rule 3). Events whose
// state is unknown (outliers) are never visible.
func FilterVisible(ctx context.Context, db VisibilityStore, user id.UserID, joinedNow bool, events []store.Event) ([]store.Event, error) {
	if len(events) == 0 {
		return events, nil
	}
	nids := make([]int64, len(events))
	for i, e := range events {
		nids[i] = e.NID
	}
	groups, err := db.StateGroupsBeforeEvents(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("filter visible events: %w", err)
	}
	memberKey := store.StateKey{Type: "m.room.member", StateKey: string(user)}
	type before struct{ history, membership string }
	atGroup := map[int64]before{}
	for _, g := range groups {
		if _, ok := atGroup[g]; ok {
			continue
		}
		keys, err := db.StateKeysAtGroup(ctx, g, []store.StateKey{historyKey, memberKey})
		if err != nil {
			return nil, fmt.Errorf("filter visible events: %w", err)
		}
		var b before
		var want []int64
		if nid, ok := keys[historyKey]; ok {
			want = append(want, nid)
		}
		if nid, ok := keys[memberKey]; ok {
			want = append(want, nid)
		}
		evs, err := db.EventsByNID(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("filter visible events: %w", err)
		}
		for _, e := range evs {
			switch e.NID {
			case keys[historyKey]:
				b.history = contentString(e.JSON, "history_visibility")
			case keys[memberKey]:
				b.membership = contentString(e.JSON, "membership")
			}
		}
		atGroup[g] = b
	}
	out := make([]store.Event, 0, len(events))
	for _, e := range events {
		g, ok := groups[e.NID]
		if !ok || e.Rejected {
			continue
		}
		b := atGroup[g]
		v := EventVisibility{
			HistoryBefore: b.history, HistoryAfter: b.history,
			MembershipBefore: b.membership, MembershipAfter: b.membership,
		}
		if e.StateKey != nil {
			switch {
			case e.Type == historyKey.Type && *e.StateKey == "":
				v.HistoryAfter = contentString(e.JSON, "history_visibility")
			case e.Type == memberKey.Type && *e.StateKey == memberKey.StateKey:
				v.MembershipAfter = contentString(e.JSON, "membership")
			}
		}
		if v.Allows(joinedNow) {
			out = append(out, e)
		}
	}
	return out, nil
}

// contentString returns content[key] of a stored PDU if it is a string, or
// "".
func contentString(pdu []byte, key string) string {
	var ev struct {
		Content map[string]json.RawMessage `json:"content"`
	}
	if json.Unmarshal(pdu, &ev) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(ev.Content[key], &s) != nil {
		return ""
	}
	return s
}
