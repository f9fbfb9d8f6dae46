package room

// Spec: Client-Server API § Room Upgrades (server behaviour)
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-13

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// UpgradeRequest asks for a room to be replaced by a new room of another
// version.
type UpgradeRequest struct {
	RoomID id.RoomID
	User   id.UserID
	// Version is the new room's version.
	Version *roomversion.Version
	// AdditionalCreators are the new room's creators besides User, in
	// versions with privileged creators (ignored otherwise).
	AdditionalCreators []id.UserID
	// MoveDirectory, when set, maps the old room's local aliases and its
	// room directory listing to the new room (the directory's) and returns
	// the aliases it moved; the new room then takes the old room's
	// m.room.canonical_alias too, and the old room's loses the moved
	// aliases.
	MoveDirectory func(ctx context.Context, from, to id.RoomID) ([]id.RoomAlias, error)
	// InviteProfile, when set, returns the profile (displayname,
	// avatar_url) the new room's invite event of a local user invited to
	// the old room carries, as createRoom's invites do.
	InviteProfile func(ctx context.Context, user id.UserID) (map[string]string, error)
}

// transferredState are the state events copied into the replacement room,
// the spec's recommended list. Membership events and events whose meaning
// depends on their sender are not copied.
var transferredState = []string{
	"m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.avatar", "m.room.topic",
	"m.room.guest_access", "m.room.history_visibility", "m.room.join_rules", "m.room.power_levels",
}

// spaceChildType is the type of a space's child events.
const spaceChildType = "m.space.child"

// SpaceChild returns the child an m.space.child event with stateKey and
// content makes, and the servers to join it through; false if it makes
// none. The state key must be a room ID and content.via an array of
// strings ("when not present or invalid, the child room is not considered
// to be part of the space", which is how a child is removed: redacting or
// clearing the content) that is not empty and names at least one server
// to join through. Entries of via that are not server names are skipped.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#mspacechild
func SpaceChild(stateKey string, content json.RawMessage) (id.RoomID, []id.ServerName, bool) {
	roomID, err := id.ParseRoomID(stateKey)
	if err != nil {
		return "", nil, false
	}
	var c struct {
		Via json.RawMessage `json:"via"`
	}
	// *string, not string: a null entry would unmarshal to "" unnoticed.
	var via []*string
	if json.Unmarshal(content, &c) != nil || json.Unmarshal(c.Via, &via) != nil || len(via) == 0 {
		return "", nil, false
	}
	var servers []id.ServerName
	for _, v := range via {
		if v == nil {
			return "", nil, false
		}
		if srv, err := id.ParseServerName(*v); err == nil {
			servers = append(servers, srv)
		}
	}
	if len(servers) == 0 {
		return "", nil, false
	}
	return roomID, servers, true
}

// isSpaceChild reports whether an m.space.child event makes a child.
func isSpaceChild(e *event.PDU) bool {
	sk, _ := e.StateKey()
	_, _, ok := SpaceChild(sk, e.Content())
	return ok
}

// tombstoneBody is the body of the tombstone an upgrade sends.
const tombstoneBody = "This room has been replaced"

// Upgrade replaces a room by a new room of r.Version, as the spec's
// server behaviour says: the user must be joined and allowed to send
// m.room.tombstone (else ErrForbidden); the new room's create event names
// its predecessor and copies its type; the transferable state and the
// power levels are copied (the user's power raised for the copy if
// needed, and restored after); users invited to the old room are invited
// to the new one (those of this server); a space's children are copied;
// the local aliases and the directory listing move to the new room
// (r.MoveDirectory) with the canonical alias; a tombstone pointing
// to the new room is sent to the old one, whose power levels are then
// raised so that ordinary members can no longer send or invite. It
// returns the new room's ID.
func (s *Service) Upgrade(ctx context.Context, r UpgradeRequest) (id.RoomID, error) {
	state, err := s.CurrentState(ctx, r.RoomID)
	if err != nil {
		return "", err
	}
	vid, err := s.Version(ctx, r.RoomID)
	if err != nil {
		return "", err
	}
	oldV, ok := roomversion.Lookup(roomversion.ID(vid))
	if !ok {
		return "", fmt.Errorf("upgrade %s: unsupported room version %q", r.RoomID, vid)
	}
	byKey := map[event.StateKey]*event.PDU{}
	for _, e := range state {
		byKey[e.StateKeyTuple()] = e
	}
	get := func(typ, sk string) *event.PDU { return byKey[event.StateKey{Type: typ, StateKey: sk}] }
	create := get("m.room.create", "")
	if member := get("m.room.member", string(r.User)); member == nil || authrules.MembershipOf(member) != MembershipJoin {
		return "", fmt.Errorf("%w: you are not joined to the room", ErrForbidden)
	}
	oldPL := get("m.room.power_levels", "")
	levels := authrules.NewPowerLevels(oldV, oldPL, authrules.Creators(create))
	if levels.UserLevel(r.User) < levels.EventLevel("m.room.tombstone", true) {
		return "", fmt.Errorf("%w: you may not send m.room.tombstone in this room", ErrForbidden)
	}

	req := &CreateRequest{Creator: r.User, Version: r.Version, Preset: PresetPrivateChat}
	req.CreationContent, err = upgradeCreationContent(ctx, s, r, create)
	if err != nil {
		return "", err
	}
	if m := get("m.room.member", string(r.User)); m != nil {
		req.CreatorProfile = map[string]string{}
		for _, k := range []string{"displayname", "avatar_url"} {
			req.CreatorProfile[k] = contentString(m.JSON(), k)
		}
	}
	var restorePL json.RawMessage
	for _, typ := range transferredState {
		e := get(typ, "")
		if e == nil && typ == "m.room.guest_access" {
			// No guest access event forbids guests; the preset the new
			// room is built with would let them join.
			req.InitialState = append(req.InitialState, StateEvent{Type: typ, Content: json.RawMessage(`{"guest_access":"forbidden"}`)})
		}
		if e == nil {
			continue
		}
		content := e.Content()
		if typ == "m.room.power_levels" {
			if content, restorePL, err = upgradePowerLevels(r, levels, content, byKey); err != nil {
				return "", err
			}
		}
		req.InitialState = append(req.InitialState, StateEvent{Type: typ, Content: content})
	}
	// A space's children: those whose via lists servers, as a removed
	// child has none.
	for _, e := range state {
		if sk, _ := e.StateKey(); e.Type() == spaceChildType && isSpaceChild(e) {
			req.InitialState = append(req.InitialState, StateEvent{Type: spaceChildType, StateKey: sk, Content: e.Content()})
		}
	}
	if ca := get("m.room.canonical_alias", ""); ca != nil && r.MoveDirectory != nil {
		req.InitialState = append(req.InitialState, StateEvent{Type: "m.room.canonical_alias", Content: ca.Content()})
	}
	for _, e := range state {
		if sk, _ := e.StateKey(); e.Type() == "m.room.member" && authrules.MembershipOf(e) == MembershipInvite &&
			id.UserID(sk).Domain() == s.serverName && id.UserID(sk) != r.User {
			req.Invite = append(req.Invite, id.UserID(sk))
		}
	}
	slices.Sort(req.Invite)
	if r.InviteProfile != nil {
		for _, u := range req.Invite {
			p, err := r.InviteProfile(ctx, u)
			if err != nil {
				return "", fmt.Errorf("profile of %s for the new room's invite: %w", u, err)
			}
			if req.InviteProfiles == nil {
				req.InviteProfiles = map[id.UserID]map[string]string{}
			}
			req.InviteProfiles[u] = p
		}
	}
	newRoom, err := s.CreateRoom(ctx, req)
	if err != nil {
		return "", fmt.Errorf("create the replacement of %s: %w", r.RoomID, err)
	}
	empty := ""
	if r.MoveDirectory != nil {
		moved, err := r.MoveDirectory(ctx, r.RoomID, newRoom)
		if err != nil {
			return "", fmt.Errorf("move the aliases of %s: %w", r.RoomID, err)
		}
		// The moved aliases now point to the new room, so the old room's
		// m.room.canonical_alias no longer names them: an event a client
		// could not set (M_BAD_ALIAS) would otherwise stay in its state.
		// Like the power levels below, only if the user may send it.
		ca := get("m.room.canonical_alias", "")
		if content, changed := withoutAliases(ca, moved); changed && levels.UserLevel(r.User) >= levels.EventLevel("m.room.canonical_alias", true) {
			if _, _, err := s.Send(ctx, r.RoomID, Proposal{Type: "m.room.canonical_alias", StateKey: &empty, Sender: r.User, Content: content}); err != nil {
				s.log.Warn("clear canonical alias of upgraded room", "room_id", r.RoomID, "err", err)
			}
		}
	}
	if restorePL != nil {
		if _, _, err := s.Send(ctx, newRoom, Proposal{Type: "m.room.power_levels", StateKey: &empty, Sender: r.User, Content: restorePL}); err != nil {
			return "", fmt.Errorf("restore power levels of %s: %w", newRoom, err)
		}
	}
	tombstone := mustJSON(map[string]string{"body": tombstoneBody, "replacement_room": string(newRoom)})
	if _, _, err := s.Send(ctx, r.RoomID, Proposal{Type: "m.room.tombstone", StateKey: &empty, Sender: r.User, Content: tombstone}); err != nil {
		return "", fmt.Errorf("send the tombstone of %s: %w", r.RoomID, err)
	}
	// "If possible": a user who may send the tombstone but not power
	// levels leaves the old room's levels as they are.
	if restricted, ok := restrictOldPowerLevels(levels, oldPL); ok && levels.UserLevel(r.User) >= levels.EventLevel("m.room.power_levels", true) {
		if _, _, err := s.Send(ctx, r.RoomID, Proposal{Type: "m.room.power_levels", StateKey: &empty, Sender: r.User, Content: restricted}); err != nil {
			s.log.Warn("restrict power levels of upgraded room", "room_id", r.RoomID, "err", err)
		}
	}
	return newRoom, nil
}

// upgradeCreationContent returns the new room's creation content: the
// predecessor (with the old room's last event, which versions with
// privileged creators may leave out), the old room's type, m.federate,
// and the additional creators asked for.
func upgradeCreationContent(ctx context.Context, s *Service, r UpgradeRequest, create *event.PDU) (map[string]json.RawMessage, error) {
	predecessor := map[string]string{"room_id": string(r.RoomID)}
	if !r.Version.PrivilegedCreators {
		last, err := s.lastEvent(ctx, r.RoomID)
		if err != nil {
			return nil, err
		}
		predecessor["event_id"] = string(last)
	}
	cc := map[string]json.RawMessage{"predecessor": mustJSON(predecessor)}
	var old map[string]json.RawMessage
	if create != nil && json.Unmarshal(create.Content(), &old) == nil {
		for _, k := range []string{"type", "m.federate"} {
			if v, ok := old[k]; ok {
				cc[k] = v
			}
		}
	}
	if r.Version.PrivilegedCreators && len(r.AdditionalCreators) > 0 {
		cc["additional_creators"] = mustJSON(r.AdditionalCreators)
	}
	return cc, nil
}

// lastEvent returns the ID of the room's deepest forward extremity, its
// last known event.
func (s *Service) lastEvent(ctx context.Context, roomID id.RoomID) (id.EventID, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	rs.head.RLock()
	defer rs.head.RUnlock()
	if len(rs.extremities) == 0 {
		return "", fmt.Errorf("last event of %s: no forward extremities", roomID)
	}
	return rs.extremities[0].EventID(), nil
}

// upgradePowerLevels returns the power levels to create the new room
// with and, when they differ from those the room should end with, the
// ones to send once the state is copied. Creators of the new room (in
// versions with privileged creators) leave the users map. Otherwise the
// upgrading user, who may lack the power to send some of the copied
// state, gets it for the copy.
func upgradePowerLevels(r UpgradeRequest, old *authrules.PowerLevels, content json.RawMessage, byKey map[event.StateKey]*event.PDU) (json.RawMessage, json.RawMessage, error) {
	var pl map[string]json.RawMessage
	if err := json.Unmarshal(content, &pl); err != nil {
		return nil, nil, fmt.Errorf("%w: the room's power levels are not an object", ErrInvalidRoomState)
	}
	users := map[string]json.RawMessage{}
	if raw, ok := pl["users"]; ok {
		_ = json.Unmarshal(raw, &users)
	}
	if r.Version.PrivilegedCreators {
		delete(users, string(r.User))
		for _, u := range r.AdditionalCreators {
			delete(users, string(u))
		}
		pl["users"] = mustJSON(users)
		return mustJSON(pl), nil, nil
	}
	own := old.UserLevel(r.User)
	if old.IsCreator(r.User) {
		// A creator of a room with privileged creators keeps the highest
		// ordinary level in a room without them.
		own = 100
		users[string(r.User)] = mustJSON(own)
		pl["users"] = mustJSON(users)
	}
	final := mustJSON(pl)
	need := old.EventLevel("m.room.power_levels", true)
	for _, typ := range transferredState {
		if byKey[event.StateKey{Type: typ}] != nil {
			need = max(need, old.EventLevel(typ, true))
		}
	}
	for k, e := range byKey {
		if k.Type == spaceChildType && isSpaceChild(e) {
			need = max(need, old.EventLevel(spaceChildType, true))
			break
		}
	}
	if own >= need {
		return final, nil, nil
	}
	users[string(r.User)] = mustJSON(need)
	pl["users"] = mustJSON(users)
	return mustJSON(pl), final, nil
}

// restrictOldPowerLevels returns the old room's power levels with
// events_default and invite raised to the greater of 50 and
// users_default + 1, and whether that changes them.
func restrictOldPowerLevels(levels *authrules.PowerLevels, pl *event.PDU) (json.RawMessage, bool) {
	if pl == nil {
		return nil, false
	}
	var content map[string]json.RawMessage
	if json.Unmarshal(pl.Content(), &content) != nil {
		return nil, false
	}
	restricted := max(50, levels.UsersDefault()+1)
	changed := false
	if levels.EventsDefault() < restricted {
		content["events_default"], changed = mustJSON(restricted), true
	}
	if levels.Invite() < restricted {
		content["invite"], changed = mustJSON(restricted), true
	}
	return mustJSON(content), changed
}

// withoutAliases returns the content of a canonical alias event without
// the given aliases in alias and alt_aliases (other keys kept), and
// whether that changed anything. A nil event changes nothing.
func withoutAliases(ca *event.PDU, aliases []id.RoomAlias) (json.RawMessage, bool) {
	if ca == nil || len(aliases) == 0 {
		return nil, false
	}
	var content map[string]json.RawMessage
	if json.Unmarshal(ca.Content(), &content) != nil {
		return nil, false
	}
	gone := func(a string) bool { return slices.Contains(aliases, id.RoomAlias(a)) }
	changed := false
	var alias string
	if json.Unmarshal(content["alias"], &alias) == nil && gone(alias) {
		delete(content, "alias")
		changed = true
	}
	var alt []string
	if json.Unmarshal(content["alt_aliases"], &alt) == nil {
		kept := slices.DeleteFunc(slices.Clone(alt), gone)
		if len(kept) != len(alt) {
			changed = true
			if len(kept) == 0 {
				delete(content, "alt_aliases")
			} else {
				content["alt_aliases"] = mustJSON(kept)
			}
		}
	}
	if !changed {
		return nil, false
	}
	return mustJSON(content), true
}
