package room

// Spec: Client-Server API § Creation (POST /createRoom)
// https://spec.matrix.org/v1.19/client-server-api/#creation
// data/api/client-server/create_room.yaml

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Presets of POST /createRoom.
const (
	PresetPrivateChat        = "private_chat"
	PresetTrustedPrivateChat = "trusted_private_chat"
	PresetPublicChat         = "public_chat"
)

// CreateRequest is a validated POST /createRoom request.
type CreateRequest struct {
	Creator id.UserID
	// Visibility is "public" or "private" (the room directory).
	Visibility string
	// Alias is the full alias made from room_alias_name, or "".
	Alias                     id.RoomAlias
	Name                      *string
	Topic                     *string
	Invite                    []id.UserID
	Version                   *roomversion.Version
	CreationContent           map[string]json.RawMessage
	InitialState              []StateEvent
	Preset                    string
	IsDirect                  bool
	PowerLevelContentOverride map[string]json.RawMessage
	// CreatorProfile fills the creator's join event (displayname,
	// avatar_url); may be empty.
	CreatorProfile map[string]string
	// InviteProfiles fill the invite events of local invitees with their
	// profiles, as joins carry them, so that the room shows invitees by
	// name before they join; may be empty.
	InviteProfiles map[id.UserID]map[string]string
}

// StateEvent is a state event to send: type, state key and content.
type StateEvent struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// plannedEvent is one event of a new room, in sending order.
type plannedEvent struct {
	typ      string
	stateKey string
	content  json.RawMessage
}

// planCreate turns a request into the ordered events the spec prescribes:
// create, creator join, power levels (those of initial_state, if it has
// them), canonical alias, preset events, the rest of initial_state, name,
// topic, then invites. It is pure so that the order and
// contents can be tested without a database.
func planCreate(r *CreateRequest) ([]plannedEvent, error) {
	v := r.Version
	preset := r.Preset
	if preset == "" {
		preset = PresetPrivateChat
		if r.Visibility == "public" {
			preset = PresetPublicChat
		}
	}
	var joinRule, guestAccess string
	switch preset {
	case PresetPrivateChat, PresetTrustedPrivateChat:
		joinRule, guestAccess = "invite", "can_join"
	case PresetPublicChat:
		joinRule, guestAccess = "public", "forbidden"
	default:
		return nil, fmt.Errorf("%w: unknown preset %q", ErrInvalidRequest, preset)
	}

	// 1. m.room.create.
	create := map[string]json.RawMessage{}
	for k, val := range r.CreationContent {
		create[k] = val
	}
	create["room_version"] = mustJSON(string(v.ID))
	if v.CreatorFromSender {
		delete(create, "creator")
	} else {
		create["creator"] = mustJSON(r.Creator)
	}
	var additional []id.UserID
	if v.PrivilegedCreators {
		if raw, ok := create["additional_creators"]; ok {
			if err := json.Unmarshal(raw, &additional); err != nil {
				return nil, fmt.Errorf("%w: additional_creators must be a list of user IDs", ErrInvalidRequest)
			}
		}
		if preset == PresetTrustedPrivateChat {
			additional = append(additional, r.Invite...)
		}
		additional = dedupeUsers(additional, r.Creator)
		if len(additional) > 0 {
			create["additional_creators"] = mustJSON(additional)
		} else {
			delete(create, "additional_creators")
		}
	}
	plan := []plannedEvent{{typ: "m.room.create", content: mustJSON(create)}}

	// 2. The creator joins.
	member := map[string]any{"membership": "join"}
	for k, val := range r.CreatorProfile {
		if val != "" {
			member[k] = val
		}
	}
	plan = append(plan, plannedEvent{typ: "m.room.member", stateKey: string(r.Creator), content: mustJSON(member)})

	// 3. Power levels: the defaults with power_level_content_override
	// applied on top; or, when initial_state holds m.room.power_levels, that
	// content instead.
	//
	// NOTSPEC: the spec's order sends the overridden defaults here and the
	// initial_state power levels in step 6, replacing them. Like Synapse,
	// Hafen sends only the initial_state content, here: the room ends in
	// the same state, and a room whose defaults would not let the creator
	// send the replacement can still be created.
	var plContent json.RawMessage
	if se, ok := initialPowerLevels(r.InitialState); ok {
		plContent = se.Content
	} else {
		pl := defaultPowerLevels(r, preset, additional)
		for k, val := range r.PowerLevelContentOverride {
			pl[k] = val
		}
		plContent = mustJSON(pl)
	}
	plan = append(plan, plannedEvent{typ: "m.room.power_levels", content: plContent})

	// 4. Canonical alias.
	if r.Alias != "" {
		plan = append(plan, plannedEvent{typ: "m.room.canonical_alias", content: mustJSON(map[string]any{"alias": r.Alias})})
	}

	// 5. Preset events; 6. initial_state overrides them; 7. name and topic
	// override initial_state.
	state := []plannedEvent{
		{typ: "m.room.join_rules", content: mustJSON(map[string]string{"join_rule": joinRule})},
		{typ: "m.room.history_visibility", content: mustJSON(map[string]string{"history_visibility": "shared"})},
		{typ: "m.room.guest_access", content: mustJSON(map[string]string{"guest_access": guestAccess})},
	}
	for _, se := range r.InitialState {
		switch {
		case se.Type == "m.room.create" || se.Type == "m.room.member":
			// NOTSPEC: these are set by the steps above and refused here
			// (400 M_INVALID_ROOM_STATE, the code create_room.yaml gives
			// for an invalid initial state), where the spec would let the
			// auth rules judge them: accepting them would let
			// initial_state replace the room's creation or the creator's
			// membership, and a membership of another server's user
			// would skip the invite handshake with that server.
			return nil, fmt.Errorf("%w: initial_state may not contain %s", ErrInvalidRoomState, se.Type)
		case se.Type == "m.room.power_levels" && se.StateKey == "":
			continue // sent in step 3
		}
		state = setPlanned(state, plannedEvent{typ: se.Type, stateKey: se.StateKey, content: se.Content})
	}
	if r.Name != nil {
		state = setPlanned(state, plannedEvent{typ: "m.room.name", content: mustJSON(map[string]string{"name": *r.Name})})
	}
	if r.Topic != nil {
		topic := map[string]any{
			"topic":   *r.Topic,
			"m.topic": map[string]any{"m.text": []map[string]string{{"body": *r.Topic, "mimetype": "text/plain"}}},
		}
		state = setPlanned(state, plannedEvent{typ: "m.room.topic", content: mustJSON(topic)})
	}
	plan = append(plan, state...)

	// 8. Invites of local users; users of other servers are invited once
	// the room exists, through their servers (Service.CreateRoom).
	for _, u := range dedupeUsers(r.Invite, r.Creator) {
		if u.Domain() != r.Creator.Domain() {
			continue
		}
		c := map[string]any{"membership": "invite"}
		if r.IsDirect {
			c["is_direct"] = true
		}
		for k, v := range r.InviteProfiles[u] {
			if v != "" {
				c[k] = v
			}
		}
		plan = append(plan, plannedEvent{typ: "m.room.member", stateKey: string(u), content: mustJSON(c)})
	}
	return plan, nil
}

// initialPowerLevels returns the last m.room.power_levels event of
// initial_state, if there is one (a later entry for the same state
// replaces an earlier one, as for every other event of initial_state).
func initialPowerLevels(initial []StateEvent) (StateEvent, bool) {
	for i := len(initial) - 1; i >= 0; i-- {
		if se := initial[i]; se.Type == "m.room.power_levels" && se.StateKey == "" {
			return se, true
		}
	}
	return StateEvent{}, false
}

// defaultPowerLevels returns the power levels a new room starts with.
func defaultPowerLevels(r *CreateRequest, preset string, additionalCreators []id.UserID) map[string]json.RawMessage {
	users := map[id.UserID]int64{}
	if !r.Version.PrivilegedCreators {
		users[r.Creator] = 100
	}
	if preset == PresetTrustedPrivateChat {
		for _, u := range r.Invite {
			if !r.Version.PrivilegedCreators || !slices.Contains(additionalCreators, u) {
				users[u] = 100
			}
		}
	}
	tombstone := 100
	if r.Version.PrivilegedCreators {
		// In v12+ the spec requires the tombstone level to be explicitly
		// higher than state_default; 150 also puts it above the 100 that
		// admins hold, so only creators can upgrade the room.
		tombstone = 150
	}
	events := map[string]int{
		"m.room.name":               50,
		"m.room.power_levels":       100,
		"m.room.history_visibility": 100,
		"m.room.canonical_alias":    50,
		"m.room.avatar":             50,
		"m.room.tombstone":          tombstone,
		"m.room.server_acl":         100,
		"m.room.encryption":         100,
	}
	return map[string]json.RawMessage{
		"users":          mustJSON(users),
		"users_default":  mustJSON(0),
		"events":         mustJSON(events),
		"events_default": mustJSON(0),
		"state_default":  mustJSON(50),
		"ban":            mustJSON(50),
		"kick":           mustJSON(50),
		"redact":         mustJSON(50),
		"invite":         mustJSON(50),
	}
}

// setPlanned replaces the event with the same type and state key, or
// appends ev.
func setPlanned(list []plannedEvent, ev plannedEvent) []plannedEvent {
	for i := range list {
		if list[i].typ == ev.typ && list[i].stateKey == ev.stateKey {
			list[i] = ev
			return list
		}
	}
	return append(list, ev)
}

func dedupeUsers(users []id.UserID, skip id.UserID) []id.UserID {
	var out []id.UserID
	for _, u := range users {
		if u != skip && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// mustJSON marshals values that cannot fail to marshal (maps of strings,
// numbers and raw JSON).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("room: marshal %T: %v", v, err))
	}
	return b
}
