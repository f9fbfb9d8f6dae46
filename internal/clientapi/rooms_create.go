// Spec: Client-Server API § Creation
// OpenAPI: data/api/client-server/create_room.yaml
// https://spec.matrix.org/v1.19/client-server-api/#creation

package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
)

// maxInitialState bounds initial_state and invite, so that one request
// cannot build an unbounded batch of events.
const maxInitialState = 1000

type createRoomBody struct {
	Visibility                string                     `json:"visibility"`
	RoomAliasName             *string                    `json:"room_alias_name"`
	Name                      *string                    `json:"name"`
	Topic                     *string                    `json:"topic"`
	Invite                    []string                   `json:"invite"`
	Invite3PID                []json.RawMessage          `json:"invite_3pid"`
	RoomVersion               *string                    `json:"room_version"`
	CreationContent           map[string]json.RawMessage `json:"creation_content"`
	InitialState              []initialStateEvent        `json:"initial_state"`
	Preset                    string                     `json:"preset"`
	IsDirect                  bool                       `json:"is_direct"`
	PowerLevelContentOverride map[string]json.RawMessage `json:"power_level_content_override"`
}

type initialStateEvent struct {
	Type     *string         `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// createRoom creates a room.
//
// POST /_matrix/client/v3/createRoom
func (a *roomAPI) createRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	var body createRoomBody
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	req, err := a.createRequest(r.Context(), &body, sess.UserID)
	if err != nil {
		return err
	}
	// The event path writes the alias in the room's own transaction: a
	// taken alias is M_ROOM_IN_USE and leaves no room behind.
	roomID, err := a.svc.CreateRoom(r.Context(), req)
	if err != nil {
		return roomErr(err)
	}
	return httpapi.OK(w, map[string]any{"room_id": roomID})
}

// createRequest validates a createRoom body.
func (a *roomAPI) createRequest(ctx context.Context, b *createRoomBody, creator id.UserID) (*room.CreateRequest, error) {
	req := &room.CreateRequest{
		Creator: creator, Name: b.Name, Topic: b.Topic, IsDirect: b.IsDirect,
		CreationContent: b.CreationContent, PowerLevelContentOverride: b.PowerLevelContentOverride,
	}
	switch b.Visibility {
	case "", "private", "public":
		req.Visibility = b.Visibility
	default:
		return nil, matrixerr.BadJSON("visibility must be public or private")
	}
	switch b.Preset {
	case "", room.PresetPrivateChat, room.PresetTrustedPrivateChat, room.PresetPublicChat:
		req.Preset = b.Preset
	default:
		return nil, matrixerr.BadJSON("preset must be private_chat, trusted_private_chat or public_chat")
	}
	req.Version = a.s.defaultRoomVersion()
	if b.RoomVersion != nil {
		v, ok := roomversion.Lookup(roomversion.ID(*b.RoomVersion))
		if !ok {
			return nil, matrixerr.UnsupportedRoomVersion("this server does not support room version " + truncate(*b.RoomVersion, 40))
		}
		req.Version = v
	}
	if b.RoomAliasName != nil {
		name := *b.RoomAliasName
		if name == "" || strings.ContainsAny(name, ":#") {
			return nil, matrixerr.InvalidParam("room_alias_name must be a non-empty localpart without ':' or '#'")
		}
		alias, err := id.ParseRoomAlias("#" + name + ":" + string(a.s.ServerName))
		if err != nil {
			return nil, matrixerr.InvalidParam("room_alias_name does not make a valid room alias")
		}
		req.Alias = alias
	}
	if len(b.Invite) > maxInitialState || len(b.InitialState) > maxInitialState {
		return nil, matrixerr.BadJSON("invite and initial_state may hold at most %d entries", maxInitialState)
	}
	for _, s := range b.Invite {
		u, err := id.ParseCompliantUserID(s)
		if err != nil {
			return nil, matrixerr.InvalidParam("invite holds an invalid user ID")
		}
		req.Invite = append(req.Invite, u)
		if u.Domain() == a.s.ServerName {
			p, err := a.profileOf(ctx, u)
			if err != nil {
				return nil, err
			}
			if req.InviteProfiles == nil {
				req.InviteProfiles = map[id.UserID]map[string]string{}
			}
			req.InviteProfiles[u] = p
		}
	}
	if len(b.Invite3PID) > 0 {
		return nil, matrixerr.Unknown("this server does not support third-party invites")
	}
	// The create event's fields others read keep their types: a room
	// whose m.federate is not a boolean leaves servers guessing.
	if raw, ok := b.CreationContent["m.federate"]; ok {
		var federate bool
		if json.Unmarshal(raw, &federate) != nil {
			return nil, matrixerr.BadJSON("creation_content.m.federate must be a boolean")
		}
	}
	if raw, ok := b.CreationContent["type"]; ok {
		var typ string
		if json.Unmarshal(raw, &typ) != nil {
			return nil, matrixerr.BadJSON("creation_content.type must be a string")
		}
	}
	var additional []string
	if json.Unmarshal(b.CreationContent["additional_creators"], &additional) == nil {
		for _, s := range additional {
			if _, err := id.ParseCompliantUserID(s); err != nil {
				return nil, matrixerr.InvalidParam("creation_content.additional_creators holds an invalid user ID")
			}
		}
	}
	for i, se := range b.InitialState {
		if se.Type == nil {
			return nil, matrixerr.BadJSON("initial_state[%d] has no type", i)
		}
		if err := checkEventType(*se.Type); err != nil {
			return nil, matrixerr.BadJSON("initial_state[%d] has an invalid type", i)
		}
		if len(se.StateKey) > maxEventTypeBytes {
			return nil, matrixerr.BadJSON("initial_state[%d] has a state_key longer than 255 bytes", i)
		}
		if !isJSONObject(se.Content) {
			return nil, matrixerr.BadJSON("initial_state[%d] must have an object as content", i)
		}
		req.InitialState = append(req.InitialState, room.StateEvent{Type: *se.Type, StateKey: se.StateKey, Content: se.Content})
	}
	profile, err := a.profileOf(ctx, creator)
	if err != nil {
		return nil, err
	}
	req.CreatorProfile = profile
	return req, nil
}

// isJSONObject reports whether raw is a JSON object.
func isJSONObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// truncate cuts s to at most n bytes for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// profileOf returns the displayname and avatar_url of a local user for
// their join events; empty for users without an account row.
func (a *roomAPI) profileOf(ctx context.Context, user id.UserID) (map[string]string, error) {
	return a.profiles.ForJoin(ctx, user)
}
