package fedevents

// Spec: Client-Server API § Room History Visibility, applied to servers
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-7

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// visibility decides, for one request, which events a server may see. It
// caches what it read per state group, as the events of a backfill share
// a few.
type visibility struct {
	s      *Service
	server id.ServerName
	// joinedNow reports, per room, whether a user of server is joined now.
	joinedNow map[id.RoomID]bool
	groups    map[int64]groupView
	// erased caches, per local sender, whether the account was erased.
	erased map[id.UserID]bool
}

// groupView is what the rules need of the state at a group: the history
// visibility and the memberships of the server's users.
type groupView struct {
	visibility  string
	memberships []string
}

func (s *Service) visibilityFor(server id.ServerName) *visibility {
	return &visibility{s: s, server: server, joinedNow: map[id.RoomID]bool{}, groups: map[int64]groupView{}, erased: map[id.UserID]bool{}}
}

// canSee applies the rules of history visibility to the server as if it
// were one of its users, with the state before the event:
//
//  1. world_readable: allow;
//  2. a user of the server was joined: allow;
//  3. shared, and a user of the server joined later (is joined now): allow;
//  4. invited, and a user of the server was invited: allow;
//  5. otherwise deny.
//
// An m.room.history_visibility event is visible if the visibility before
// or after it allows; a member event of one of the server's users if the
// membership before or after it does. Events stored without their state
// are not visible.
func (v *visibility) canSee(ctx context.Context, ev store.Event) (bool, error) {
	gv, known, err := v.before(ctx, ev)
	if err != nil || !known {
		return false, err
	}
	vis, memberships := gv.visibility, gv.memberships
	if ev.StateKey != nil && *ev.StateKey == "" && ev.Type == "m.room.history_visibility" {
		if after := visibilityOf(ev.JSON); v.allows(after, memberships) {
			return true, nil
		}
	}
	if ev.StateKey != nil && ev.Type == "m.room.member" && id.UserID(*ev.StateKey).Domain() == v.server {
		if v.allows(vis, append(memberships[:len(memberships):len(memberships)], membershipOf(ev.JSON))) {
			return true, nil
		}
	}
	if v.allows(vis, memberships) {
		return true, nil
	}
	if vis == "shared" {
		// 3: "joined the room at any point after the event was sent": a
		// user of the server joined now did.
		return v.isJoinedNow(ctx, ev.RoomID)
	}
	return false, nil
}

// erasedCopy reports whether server, which may see ev, must be served a
// redacted copy of it: its sender's account was deactivated with "erase"
// and no user of the server was joined at the event. "Any users (or
// servers) which join the room after the erasure request are served
// redacted copies of the events sent by this account"; servers that were
// in the room have the events already.
func (v *visibility) erasedCopy(ctx context.Context, ev store.Event) (bool, error) {
	if ev.Sender.Domain() != v.s.ServerName {
		return false, nil // only local accounts are erased here
	}
	erased, ok := v.erased[ev.Sender]
	if !ok {
		got, err := v.s.DB.ErasedUsers(ctx, []id.UserID{ev.Sender})
		if err != nil {
			return false, err
		}
		erased = got[ev.Sender]
		v.erased[ev.Sender] = erased
	}
	if !erased {
		return false, nil
	}
	gv, known, err := v.before(ctx, ev)
	if err != nil {
		return false, err
	}
	if !known {
		return true, nil
	}
	if slices.Contains(gv.memberships, "join") {
		return false, nil
	}
	ownMember := ev.StateKey != nil && ev.Type == "m.room.member" && id.UserID(*ev.StateKey).Domain() == v.server
	return !(ownMember && membershipOf(ev.JSON) == "join"), nil
}

// allows applies rules 1, 2 and 4.
func (v *visibility) allows(vis string, memberships []string) bool {
	if vis == "world_readable" {
		return true
	}
	for _, m := range memberships {
		if m == "join" || (m == "invite" && vis == "invited") {
			return true
		}
	}
	return false
}

func (v *visibility) isJoinedNow(ctx context.Context, roomID id.RoomID) (bool, error) {
	if in, ok := v.joinedNow[roomID]; ok {
		return in, nil
	}
	members, err := v.s.DB.JoinedMembers(ctx, roomID)
	if err != nil {
		return false, fmt.Errorf("load members of %s: %w", roomID, err)
	}
	in := false
	for _, m := range members {
		if m.Domain() == v.server {
			in = true
			break
		}
	}
	v.joinedNow[roomID] = in
	return in, nil
}

// before returns the view of the state before ev; known is false for an
// event stored without its state.
func (v *visibility) before(ctx context.Context, ev store.Event) (gv groupView, known bool, err error) {
	group, err := v.s.DB.StateGroupBeforeEvent(ctx, ev.NID)
	if errors.Is(err, store.ErrNotFound) {
		return groupView{}, false, nil
	}
	if err != nil {
		return groupView{}, false, fmt.Errorf("state before %s: %w", ev.EventID, err)
	}
	gv, err = v.group(ctx, group)
	return gv, err == nil, err
}

// group reads the history visibility and the server's memberships at a
// state group.
func (v *visibility) group(ctx context.Context, group int64) (groupView, error) {
	if gv, ok := v.groups[group]; ok {
		return gv, nil
	}
	st, err := v.s.DB.StateAtGroup(ctx, group)
	if err != nil {
		return groupView{}, fmt.Errorf("load state group %d: %w", group, err)
	}
	var nids []int64
	for k, nid := range st {
		if (k.Type == "m.room.history_visibility" && k.StateKey == "") ||
			(k.Type == "m.room.member" && id.UserID(k.StateKey).Domain() == v.server) {
			nids = append(nids, nid)
		}
	}
	evs, err := v.s.DB.EventsByNID(ctx, nids)
	if err != nil {
		return groupView{}, fmt.Errorf("load state group %d: %w", group, err)
	}
	gv := groupView{visibility: "shared"}
	for _, e := range evs {
		if e.Type == "m.room.history_visibility" {
			gv.visibility = visibilityOf(e.JSON)
			continue
		}
		gv.memberships = append(gv.memberships, membershipOf(e.JSON))
	}
	v.groups[group] = gv
	return gv, nil
}

// visibilityOf reads content.history_visibility of an event; values not
// understood count as shared, as the spec says.
func visibilityOf(pdu []byte) string {
	var e struct {
		Content struct {
			HistoryVisibility any `json:"history_visibility"`
		} `json:"content"`
	}
	json.Unmarshal(pdu, &e)
	switch s, _ := e.Content.HistoryVisibility.(string); s {
	case "world_readable", "shared", "invited", "joined":
		return s
	}
	return "shared"
}

// membershipOf reads content.membership of a member event.
func membershipOf(pdu []byte) string {
	var e struct {
		Content struct {
			Membership any `json:"membership"`
		} `json:"content"`
	}
	json.Unmarshal(pdu, &e)
	s, _ := e.Content.Membership.(string)
	return s
}
