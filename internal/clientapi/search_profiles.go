// Spec: Client-Server API § Server Side Search (profile_info of a result's event_context)
// OpenAPI: data/api/client-server/search.yaml
// https://spec.matrix.org/v1.19/client-server-api/#server-side-search

package clientapi

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// profileWant is a sender whose profile a result's context shows, and
// the event of theirs it is read at.
type profileWant struct {
	sc     *searchEventContext
	sender id.UserID
	at     store.Event
}

// profileWants returns the profiles a result's context shows: one per
// sender of the result and the events around it, each read at the
// sender's first event among the result, then the events before it and
// then those after it, each nearest the result first (as around is): the
// result itself for its sender.
func profileWants(sc *searchEventContext, result store.Event, around []store.Event) []profileWant {
	sc.ProfileInfo = map[id.UserID]profileInfo{}
	var out []profileWant
	for _, e := range append([]store.Event{result}, around...) {
		if _, ok := sc.ProfileInfo[e.Sender]; ok {
			continue
		}
		sc.ProfileInfo[e.Sender] = profileInfo{}
		out = append(out, profileWant{sc: sc, sender: e.Sender, at: e})
	}
	return out
}

// searchProfiles fills in the profiles wanted: the historic profile
// information search.yaml asks for, a sender's displayname and avatar_url
// as their m.room.member event gives them in the state before the event
// it is read at (or as that event sets them, if it is the sender's own
// join). A sender who was not joined there, or whose event's state is
// unknown, gets an empty profile. The reads are shared by the whole page:
// the state groups of every event at once, each group's member keys at
// once, then the member events at once.
func (a *roomAPI) searchProfiles(ctx context.Context, wants []profileWant) error {
	if len(wants) == 0 {
		return nil
	}
	own := func(w profileWant) bool {
		e := w.at
		return e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == string(w.sender) && !e.Rejected &&
			authrules.Membership(event.RawContent(e.JSON)) == room.MembershipJoin
	}
	var nids []int64
	for _, w := range wants {
		if !own(w) {
			nids = append(nids, w.at.NID)
		}
	}
	groups, err := a.db.StateGroupsBeforeEvents(ctx, nids)
	if err != nil {
		return fmt.Errorf("state before search results: %w", err)
	}
	keysAt := map[int64][]store.StateKey{}
	for _, w := range wants {
		if g, ok := groups[w.at.NID]; ok && !own(w) {
			keysAt[g] = append(keysAt[g], store.StateKey{Type: "m.room.member", StateKey: string(w.sender)})
		}
	}
	members := map[int64]map[store.StateKey]int64{}
	var memberNIDs []int64
	for g, keys := range keysAt {
		m, err := a.db.StateKeysAtGroup(ctx, g, keys)
		if err != nil {
			return fmt.Errorf("senders' members in state group %d: %w", g, err)
		}
		members[g] = m
		for _, nid := range m {
			memberNIDs = append(memberNIDs, nid)
		}
	}
	content := map[int64][]byte{}
	if len(memberNIDs) > 0 {
		evs, err := a.db.EventsByNID(ctx, memberNIDs)
		if err != nil {
			return fmt.Errorf("senders' member events: %w", err)
		}
		for _, e := range evs {
			content[e.NID] = event.RawContent(e.JSON)
		}
	}
	for _, w := range wants {
		var c []byte
		if own(w) {
			c = event.RawContent(w.at.JSON)
		} else if g, ok := groups[w.at.NID]; ok {
			c = content[members[g][store.StateKey{Type: "m.room.member", StateKey: string(w.sender)}]]
		}
		var p profileInfo
		if c != nil && authrules.Membership(c) == room.MembershipJoin {
			p.DisplayName = contentString(c, "displayname")
			p.AvatarURL = contentString(c, "avatar_url")
		}
		w.sc.ProfileInfo[w.sender] = p
	}
	return nil
}
