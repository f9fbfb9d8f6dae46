package room

// Spec: Client-Server API § Room History Visibility (server behaviour)
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-8

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
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
// the event (being joined now counts). An empty or unknown
// history_visibility counts as shared.
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
	Membership(ctx context.Context, roomID id.RoomID, userID id.UserID) (store.Member, error)
	ErasedUsers(ctx context.Context, users []id.UserID) (map[id.UserID]bool, error)
	Room(ctx context.Context, roomID id.RoomID) (store.Room, error)
}

var _ VisibilityStore = (*store.DB)(nil)

var historyKey = store.StateKey{Type: "m.room.history_visibility"}

// FilterVisible returns the events of one room that user may see, in their
// order, as the user is served them: events of erased users the user was
// not joined at are redacted copies (see redactErased), so callers serve
// the events returned, not their own copies. Each event is judged by the
// history_visibility and the user's membership in the state before it
// (and, for a history_visibility event or the user's own member event,
// after it). joinedNow reports whether the user is joined to the room now;
// for rule 3 the user's newest join is looked up when that is not enough. Rejected events and events whose state is
// unknown (outliers) are never visible.
//
// A user whose membership has been join since before the oldest event, in
// the stream and in the room's history, sees every event (rule 2) at the
// cost of two lookups.
func FilterVisible(ctx context.Context, db VisibilityStore, user id.UserID, joinedNow bool, events []store.Event) ([]store.Event, error) {
	if len(events) == 0 {
		return events, nil
	}
	roomID := events[0].RoomID
	for _, e := range events[1:] {
		if e.RoomID != roomID {
			return nil, fmt.Errorf("filter visible events: events of %s and %s", roomID, e.RoomID)
		}
	}
	current, err := db.Membership(ctx, roomID, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		current = store.Member{}
	case err != nil:
		return nil, fmt.Errorf("filter visible events: %w", err)
	}
	if current.Membership == MembershipJoin && current.StreamPos > 0 && current.StreamPos < oldestPos(events) {
		joinedAtAll, err := joinedBeforeInHistory(ctx, db, current, events)
		if err != nil {
			return nil, fmt.Errorf("filter visible events: %w", err)
		}
		if joinedAtAll {
			return joinedVisible(events), nil
		}
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
	type before struct{ history, membership int64 }
	atGroup := map[int64]before{}
	var want []int64
	for _, g := range groups {
		if _, ok := atGroup[g]; ok {
			continue
		}
		keys, err := db.StateKeysAtGroup(ctx, g, []store.StateKey{historyKey, memberKey})
		if err != nil {
			return nil, fmt.Errorf("filter visible events: %w", err)
		}
		b := before{history: keys[historyKey], membership: keys[memberKey]}
		for _, nid := range []int64{b.history, b.membership} {
			if nid != 0 {
				want = append(want, nid)
			}
		}
		atGroup[g] = b
	}
	content := map[int64][]byte{}
	if len(want) > 0 {
		evs, err := db.EventsByNID(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("filter visible events: %w", err)
		}
		for _, e := range evs {
			content[e.NID] = e.JSON
		}
	}

	vis := make([]EventVisibility, len(events))
	known := make([]bool, len(events))
	var dependsFrom int64 // oldest event whose fate rests on rule 3
	for i, e := range events {
		g, ok := groups[e.NID]
		if !ok || e.Rejected {
			continue
		}
		known[i] = true
		b := atGroup[g]
		v := EventVisibility{
			HistoryBefore:    contentString(content[b.history], "history_visibility"),
			MembershipBefore: authrules.Membership(event.RawContent(content[b.membership])),
		}
		v.HistoryAfter, v.MembershipAfter = v.HistoryBefore, v.MembershipBefore
		if e.StateKey != nil {
			switch {
			case e.Type == historyKey.Type && *e.StateKey == "":
				v.HistoryAfter = contentString(e.JSON, "history_visibility")
			case e.Type == memberKey.Type && *e.StateKey == memberKey.StateKey:
				v.MembershipAfter = authrules.Membership(event.RawContent(e.JSON))
			}
		}
		vis[i] = v
		if !joinedNow && !v.Allows(false) && v.Allows(true) && (dependsFrom == 0 || e.StreamPos < dependsFrom) {
			dependsFrom = max(e.StreamPos, 1)
		}
	}
	var lastJoin int64
	if dependsFrom != 0 {
		if lastJoin, err = newestJoin(ctx, db, current, dependsFrom); err != nil {
			return nil, fmt.Errorf("filter visible events: %w", err)
		}
	}
	out := make([]store.Event, 0, len(events))
	var notJoined []int // indexes in out of events the user was not joined at
	for i, e := range events {
		if known[i] && vis[i].Allows(joinedNow || lastJoin > e.StreamPos) {
			if !vis[i].joined() {
				notJoined = append(notJoined, len(out))
			}
			out = append(out, e)
		}
	}
	if err := redactErased(ctx, db, roomID, out, notJoined); err != nil {
		return nil, fmt.Errorf("filter visible events: %w", err)
	}
	return out, nil
}

// joined reports whether the user was joined at the event (rule 2).
func (v EventVisibility) joined() bool {
	return v.MembershipBefore == MembershipJoin || v.MembershipAfter == MembershipJoin
}

// redactErased replaces the events at the indexes notJoined of evs, events
// of one room the user may see but was not joined at, by redacted copies
// where their sender's account was deactivated with "erase": "any users
// (or servers) which join the room after the erasure request are served
// redacted copies of the events sent by this account", while those who
// were in the room keep seeing them as they were (as Synapse, by whether
// the user was joined at the event). The copies have Erased set.
func redactErased(ctx context.Context, db VisibilityStore, roomID id.RoomID, evs []store.Event, notJoined []int) error {
	if len(notJoined) == 0 {
		return nil
	}
	var senders []id.UserID
	seen := map[id.UserID]bool{}
	for _, i := range notJoined {
		if s := evs[i].Sender; !seen[s] {
			seen[s] = true
			senders = append(senders, s)
		}
	}
	erased, err := db.ErasedUsers(ctx, senders)
	if err != nil || len(erased) == 0 {
		return err
	}
	rm, err := db.Room(ctx, roomID)
	if err != nil {
		return err
	}
	v, ok := roomversion.Lookup(roomversion.ID(rm.RoomVersion))
	if !ok {
		return fmt.Errorf("room %s has unsupported version %q", roomID, rm.RoomVersion)
	}
	for _, i := range notJoined {
		if !erased[evs[i].Sender] {
			continue
		}
		red, err := event.Redact(evs[i].JSON, v)
		if err != nil {
			return fmt.Errorf("redact %s of an erased user: %w", evs[i].EventID, err)
		}
		evs[i].JSON, evs[i].Erased = red, true
	}
	return nil
}

// joinedBeforeInHistory reports whether the user's current membership, a
// join that reached the server before every event, also precedes each of
// them in the room's history (by depth). Events that arrive after the join
// with an older depth (backfilled history, events of a server that lagged)
// may be history from before the join, which only the state before each
// event can decide.
func joinedBeforeInHistory(ctx context.Context, db VisibilityStore, join store.Member, events []store.Event) (bool, error) {
	evs, err := db.EventsByNID(ctx, []int64{join.EventNID})
	if err != nil {
		return false, err
	}
	if len(evs) == 0 {
		return false, nil
	}
	for _, e := range events {
		if e.Depth <= evs[0].Depth {
			return false, nil
		}
	}
	return true, nil
}

// joinedVisible returns the events a user who was joined at each of them
// sees (rule 2): all but rejected events, outliers and soft-failed events
// (no stream position). Backfilled history (a negative position) is
// seen like any other event.
func joinedVisible(events []store.Event) []store.Event {
	out := make([]store.Event, 0, len(events))
	for _, e := range events {
		if !e.Rejected && !e.Outlier && e.StreamPos != 0 {
			out = append(out, e)
		}
	}
	return out
}

// oldestPos returns the smallest stream position among events that have
// one, or 0 if none has.
func oldestPos(events []store.Event) int64 {
	var p int64
	for _, e := range events {
		if e.StreamPos > 0 && (p == 0 || e.StreamPos < p) {
			p = e.StreamPos
		}
	}
	return p
}

// newestJoin returns the stream position of the user's newest m.room.member
// event with membership join, for rule 3 ("the user joined the room at any
// point after the event"), or 0 if there is none after floor. It starts at
// the user's current member event and follows each member event to the one
// in the state before it, stopping at the first join or at floor.
func newestJoin(ctx context.Context, db VisibilityStore, current store.Member, floor int64) (int64, error) {
	memberKey := store.StateKey{Type: "m.room.member", StateKey: string(current.UserID)}
	nid, pos, membership := current.EventNID, current.StreamPos, current.Membership
	for nid != 0 && pos > floor {
		if membership == MembershipJoin {
			return pos, nil
		}
		groups, err := db.StateGroupsBeforeEvents(ctx, []int64{nid})
		if err != nil {
			return 0, err
		}
		g, ok := groups[nid]
		if !ok {
			return 0, nil
		}
		keys, err := db.StateKeysAtGroup(ctx, g, []store.StateKey{memberKey})
		if err != nil {
			return 0, err
		}
		prev, ok := keys[memberKey]
		if !ok {
			return 0, nil
		}
		evs, err := db.EventsByNID(ctx, []int64{prev})
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 || evs[0].StreamPos >= pos {
			return 0, nil // not in the timeline, or not older: stop
		}
		nid, pos, membership = prev, evs[0].StreamPos, authrules.Membership(event.RawContent(evs[0].JSON))
	}
	return 0, nil
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
