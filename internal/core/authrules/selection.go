package authrules

// Spec: https://spec.matrix.org/v1.19/server-server-api/#auth-events-selection

import (
	"encoding/json"
	"errors"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// ErrContentNotObject is returned by NeededStateKeys when an m.room.member
// event's content is not a JSON object.
var ErrContentNotObject = errors.New("content is not a json object")

// NeededStateKeys implements "Auth events selection": the state an event of
// this kind needs in its auth_events. The m.room.create event needs none.
// Other events need the create event (v1–v11; in v12 the room ID stands for
// it), the power levels, the sender's membership and, for m.room.member
// events, the target's membership, the join rules (join, invite, knock), the
// third-party invite named by content.third_party_invite.signed.token
// (invite) and the membership of join_authorised_via_users_server (join,
// v8+). Keys appear once, in that order.
func NeededStateKeys(v *roomversion.Version, typ string, stateKey *string, sender id.UserID, content json.RawMessage) ([]event.StateKey, error) {
	if typ == TypeCreate {
		return nil, nil
	}
	keys := make([]event.StateKey, 0, 6)
	add := func(k event.StateKey) {
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if !v.RoomIDFromCreateEvent {
		add(event.StateKey{Type: TypeCreate})
	}
	add(event.StateKey{Type: TypePowerLevels})
	add(event.StateKey{Type: TypeMember, StateKey: string(sender)})
	if typ != TypeMember {
		return keys, nil
	}
	if !isObject(content) {
		return keys, ErrContentNotObject
	}
	if stateKey != nil {
		add(event.StateKey{Type: TypeMember, StateKey: *stateKey})
	}
	membership := Membership(content)
	switch membership {
	case MembershipJoin, MembershipInvite, MembershipKnock:
		add(event.StateKey{Type: TypeJoinRules})
	}
	if membership == MembershipInvite {
		if tpi, ok := member(content, contentKeyThirdParty); ok && isObject(tpi) {
			if signed, ok := member(tpi, "signed"); ok && isObject(signed) {
				if token, ok := stringMember(signed, "token"); ok {
					add(event.StateKey{Type: TypeThirdPartyInvite, StateKey: token})
				}
			}
		}
	}
	if membership == MembershipJoin && v.RestrictedJoins {
		if auth, ok := stringMember(content, contentKeyAuthoriser); ok {
			add(event.StateKey{Type: TypeMember, StateKey: auth})
		}
	}
	return keys, nil
}

// CheckAuthEventsList applies the rules about an event's own auth_events
// list, given the listed events in order: 2.1 no duplicate (type, state_key)
// pairs, 2.2 only pairs that auth events selection picks, 2.4 a create event
// among them (v1–v11), 2.5 all in the event's room (3.1, 3.2 and 3.4 in
// v12, where the create event must not be listed). Rule 2.3, that no entry
// was itself rejected, needs the caller's knowledge of rejections.
func CheckAuthEventsList(e *event.PDU, authEvents []*event.PDU) error {
	v := e.Version()
	n := numAuthEvents(v)
	if e.Type() == TypeCreate {
		if len(authEvents) > 0 {
			return reject(rule(n, 2), "create event has auth events")
		}
		return nil
	}
	sk, isState := e.StateKey()
	var skp *string
	if isState {
		skp = &sk
	}
	needed, _ := NeededStateKeys(v, e.Type(), skp, e.Sender(), e.Content())
	seen := make([]event.StateKey, 0, len(authEvents))
	hasCreate := false
	for _, a := range authEvents {
		if a == nil {
			return reject(rule(n, 2), "missing auth event")
		}
		k, ok := a.StateKey()
		if !ok {
			return reject(rule(n, 2), "auth event "+string(a.EventID())+" is not a state event")
		}
		key := event.StateKey{Type: a.Type(), StateKey: k}
		// 2.1 (v1–v11; 3.1 v12): duplicate entries for a (type, state_key)
		// pair, reject.
		for _, s := range seen {
			if s == key {
				return reject(rule(n, 1), "duplicate auth event for "+key.Type+" "+key.StateKey)
			}
		}
		seen = append(seen, key)
		// 2.2 (v1–v11; 3.2 v12): entries that auth events selection does
		// not pick, reject.
		picked := false
		for _, nk := range needed {
			if nk == key {
				picked = true
				break
			}
		}
		if !picked {
			return reject(rule(n, 2), "auth event "+string(a.EventID())+" is not needed")
		}
		if key.Type == TypeCreate {
			hasCreate = true
		}
		// 2.5 (v1–v11; 3.4 v12): an entry in another room, reject.
		if a.RoomID() != e.RoomID() {
			return reject(rule(n, 5-boolInt(v.RoomIDFromCreateEvent)), "auth event "+string(a.EventID())+" is in another room")
		}
	}
	// 2.4 (v1–v11): no m.room.create event among the entries, reject.
	if !v.RoomIDFromCreateEvent && !hasCreate {
		return reject(rule(n, 4), "no create event among auth events")
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AuthState turns a list of auth events into a StateMap for Check. For a
// room v12 event, create must be the room's create event (found through the
// room ID); for other versions it is ignored and may be nil. Non-state
// events are left out.
func AuthState(v *roomversion.Version, authEvents []*event.PDU, create *event.PDU) StateMap {
	m := make(StateMap, len(authEvents)+1)
	for _, a := range authEvents {
		if a != nil && a.IsState() {
			m[a.StateKeyTuple()] = a
		}
	}
	if v.RoomIDFromCreateEvent && create != nil {
		m[createKey()] = create
	}
	return m
}
