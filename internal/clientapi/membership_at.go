// Spec: Client-Server API § Room event format (unsigned.membership, since v1.11)
// OpenAPI: data/api/client-server/definitions/client_event_without_room_id.yaml
// https://spec.matrix.org/v1.19/client-server-api/#room-event-format

package clientapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// maxMembershipHops bounds how far back a membership timeline is read; a
// user with more member events in one room gets older events' membership
// from the state before each.
const maxMembershipHops = 64

// membershipTimeline is one user's member events in one room, newest
// first, read back from the current one through the events each replaced.
type membershipTimeline struct {
	entries []membershipEntry
	// complete reports that entries reach the user's first member event,
	// so an event older than all of them found the user without one.
	complete bool
}

type membershipEntry struct {
	pos        int64
	membership string
}

// loadMembershipTimeline reads the requesting user's membership timeline:
// a couple of queries per member event the user has in the room.
func (f *eventFormatter) loadMembershipTimeline(ctx context.Context) (*membershipTimeline, error) {
	t := &membershipTimeline{}
	cur, err := f.db.Membership(ctx, f.roomID, f.userID)
	if errors.Is(err, store.ErrNotFound) {
		t.complete = true
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load membership timeline: %w", err)
	}
	t.entries = append(t.entries, membershipEntry{pos: cur.StreamPos, membership: cur.Membership})
	nid := cur.EventNID
	for range maxMembershipHops {
		rep, err := f.db.StateReplaces(ctx, []int64{nid})
		if err != nil {
			return nil, fmt.Errorf("load membership timeline: %w", err)
		}
		prev, ok := rep[nid]
		if !ok {
			return t, nil // not recorded: older events look at their state
		}
		if prev == 0 {
			t.complete = true
			return t, nil
		}
		evs, err := f.db.EventsByNID(ctx, []int64{prev})
		if err != nil {
			return nil, fmt.Errorf("load membership timeline: %w", err)
		}
		if len(evs) == 0 || evs[0].StreamPos == 0 {
			return t, nil
		}
		t.entries = append(t.entries, membershipEntry{pos: evs[0].StreamPos, membership: authrules.Membership(event.RawContent(evs[0].JSON))})
		nid = prev
	}
	return t, nil
}

// membershipAt returns the requesting user's membership at e, including
// e's own change: "leave" if they had no member event yet, "" for events
// outside the timeline.
func (f *eventFormatter) membershipAt(ctx context.Context, e store.Event) (string, error) {
	if e.StreamPos == 0 || e.Outlier {
		return "", nil
	}
	if e.StreamPos < 0 {
		// History fetched from another server: its place in the stream
		// says nothing of when it happened; the state before it does.
		return f.membershipInState(ctx, e)
	}
	if f.memberships == nil {
		t, err := f.loadMembershipTimeline(ctx)
		if err != nil {
			return "", err
		}
		f.memberships = t
	}
	for _, en := range f.memberships.entries {
		if en.pos <= e.StreamPos {
			return en.membership, nil
		}
	}
	if f.memberships.complete {
		return room.MembershipLeave, nil
	}
	return f.membershipInState(ctx, e)
}

// membershipInState reads the user's membership at e from the state before
// it (and e itself, if it is the user's member event).
func (f *eventFormatter) membershipInState(ctx context.Context, e store.Event) (string, error) {
	if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == string(f.userID) && !e.Rejected {
		return authrules.Membership(event.RawContent(e.JSON)), nil
	}
	g, err := f.db.StateGroupBeforeEvent(ctx, e.NID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	k := store.StateKey{Type: "m.room.member", StateKey: string(f.userID)}
	keys, err := f.db.StateKeysAtGroup(ctx, g, []store.StateKey{k})
	if err != nil {
		return "", err
	}
	nid, ok := keys[k]
	if !ok {
		return room.MembershipLeave, nil
	}
	evs, err := f.db.EventsByNID(ctx, []int64{nid})
	if err != nil || len(evs) == 0 {
		return "", err
	}
	return authrules.Membership(event.RawContent(evs[0].JSON)), nil
}
