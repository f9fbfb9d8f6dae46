package room

// Spec: Client-Server API § Restricted rooms; Server-Server API § Restricted rooms
// https://spec.matrix.org/v1.19/client-server-api/#restricted-rooms
// https://spec.matrix.org/v1.19/server-server-api/#restricted-rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// contentKeyAuthoriser is the member content key naming the user whose
// server authorised a restricted join (auth rule 4.3.5.2, v8+).
const contentKeyAuthoriser = "join_authorised_via_users_server"

// conditionRoomMembership is the one allow condition the spec defines:
// being joined to the named room.
const conditionRoomMembership = "m.room_membership"

// restrictedJoin holds what a join needs from the room's state, read under
// the head lock so that the other rooms can be consulted without it.
type restrictedJoin struct {
	allow []id.RoomID
	// authoriser is the local joined user with the highest power level
	// among those able to invite; "" if there is none.
	authoriser id.UserID
}

// joinAuthoriser returns the user to name in join_authorised_via_users_server
// when target joins roomID, or "" if the join needs none: the room is not
// restricted (or knock_restricted) in its version, or the target is already
// joined or invited (auth rule 4.3.5.1), or banned (the auth rules refuse
// that join anyway).
//
// Otherwise the target must be joined to one of the rooms the join rules
// allow (checked here, where every local user's memberships are known), or
// the join is ErrForbidden: the client-server API's 403 for "the user failed
// to satisfy any of the conditions". M_UNABLE_TO_AUTHORISE_JOIN does not
// arise for local users, whose memberships are always known here; it is for
// a remote user's make_join. When the target qualifies but no local joined
// user has the power to invite, the join is ErrUnableToGrantJoin (400
// M_UNABLE_TO_GRANT_JOIN). The authoriser is the local joined user with the
// highest power level (a creator, in v12), ties broken by user ID.
func (s *Service) joinAuthoriser(ctx context.Context, roomID id.RoomID, target id.UserID) (id.UserID, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	rj, ok := s.readRestrictedJoin(rs, target)
	if !ok {
		return "", nil
	}
	qualified := false
	for _, allowed := range rj.allow {
		m, err := s.db.Membership(ctx, allowed, target)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("check membership of %s in %s: %w", target, allowed, err)
		}
		if m.Membership == MembershipJoin {
			qualified = true
			break
		}
	}
	if !qualified {
		return "", fmt.Errorf("%w: the room is restricted and you are not joined to any of the rooms its join rules allow", ErrForbidden)
	}
	if rj.authoriser == "" {
		return "", fmt.Errorf("%w: no user of this server in %s may invite", ErrUnableToGrantJoin, roomID)
	}
	return rj.authoriser, nil
}

// readRestrictedJoin reads the join rules, the target's membership and the
// local users able to invite from the room head. It reports false when the
// join needs no authoriser.
func (s *Service) readRestrictedJoin(rs *roomState, target id.UserID) (restrictedJoin, bool) {
	rs.head.RLock()
	defer rs.head.RUnlock()
	v := rs.version
	get := func(typ, stateKey string) *event.PDU {
		return rs.state[event.StateKey{Type: typ, StateKey: stateKey}]
	}
	jr := authrules.JoinRule(get("m.room.join_rules", ""))
	if !v.RestrictedJoins || !(jr == authrules.JoinRuleRestricted || v.KnockRestricted && jr == authrules.JoinRuleKnockRestricted) {
		return restrictedJoin{}, false
	}
	if ev := get("m.room.member", string(target)); ev != nil {
		switch authrules.MembershipOf(ev) {
		case MembershipJoin, MembershipInvite, MembershipBan:
			return restrictedJoin{}, false
		}
	}
	var rj restrictedJoin
	rj.allow = allowedRooms(get("m.room.join_rules", "").Content())

	pl := authrules.NewPowerLevels(v, get("m.room.power_levels", ""), authrules.Creators(get("m.room.create", "")))
	var bestLevel int64
	for k, ev := range rs.state {
		if k.Type != "m.room.member" || authrules.MembershipOf(ev) != MembershipJoin {
			continue
		}
		u := id.UserID(k.StateKey)
		if u.Domain() != s.serverName {
			continue
		}
		level := pl.UserLevel(u)
		if level < pl.Invite() {
			continue
		}
		if rj.authoriser == "" || level > bestLevel || level == bestLevel && u < rj.authoriser {
			rj.authoriser, bestLevel = u, level
		}
	}
	return rj, true
}

// allowedRooms returns the room IDs of the m.room_membership conditions of
// a join rules content. Entries of other types or of the wrong shape are
// skipped: a condition that cannot be read cannot be satisfied.
func allowedRooms(content []byte) []id.RoomID {
	var c struct {
		Allow []json.RawMessage `json:"allow"`
	}
	if json.Unmarshal(content, &c) != nil {
		return nil
	}
	var out []id.RoomID
	for _, raw := range c.Allow {
		var cond struct {
			Type   string `json:"type"`
			RoomID string `json:"room_id"`
		}
		if json.Unmarshal(raw, &cond) != nil || cond.Type != conditionRoomMembership {
			continue
		}
		if roomID, err := id.ParseRoomID(cond.RoomID); err == nil {
			out = append(out, roomID)
		}
	}
	return out
}
