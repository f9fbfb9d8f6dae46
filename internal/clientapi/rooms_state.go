// Spec: Client-Server API § Getting events for a room (state), § Sending events to a room (state)
// OpenAPI: data/api/client-server/rooms.yaml (getRoomState, getRoomStateWithKey)
// OpenAPI: data/api/client-server/room_state.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidstate

package clientapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// maxEventBytes is the size limit of a whole event (Client-Server API §
// Size limits). A body larger than that cannot become an event.
const maxEventBytes = 65536

// getRoomState returns the room's state: the current state for members and
// world_readable rooms, the state when they left for former members.
//
// GET /_matrix/client/v3/rooms/{roomId}/state
func (a *roomAPI) getRoomState(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, v, err := a.pathRoomView(r, sess)
	if err != nil {
		return err
	}
	headers, err := a.viewStateHeaders(r.Context(), roomID, v, "")
	if err != nil {
		return err
	}
	f := a.formatter(roomID, v.version, sess)
	state, err := f.prepare(r.Context(), headers)
	if err != nil {
		return err
	}
	out, err := f.formatAll(r.Context(), state)
	if err != nil {
		return err
	}
	return httpapi.OK(w, out)
}

// getRoomStateWithKey returns one state event's content, or with
// format=event the whole event.
//
// GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}
func (a *roomAPI) getRoomStateWithKey(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, typ, err := pathRoomEventType(r)
	if err != nil {
		return err
	}
	stateKey := r.PathValue("stateKey")
	format := r.URL.Query().Get("format")
	switch format {
	case "", "content", "event":
	default:
		return matrixerr.InvalidParam("format must be content or event")
	}
	v, err := a.view(r.Context(), roomID, sess.UserID)
	if err != nil {
		return err
	}
	found, err := a.viewStateEvent(r.Context(), roomID, v, typ, stateKey)
	if err != nil {
		return err
	}
	ce, err := a.formatter(roomID, v.version, sess).format(r.Context(), *found)
	if err != nil {
		return err
	}
	if format == "event" {
		return httpapi.OK(w, ce)
	}
	return httpapi.OK(w, ce.Content)
}

// setRoomStateWithKey sends a state event.
//
// PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}
func (a *roomAPI) setRoomStateWithKey(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, typ, err := pathRoomEventType(r)
	if err != nil {
		return err
	}
	stateKey := r.PathValue("stateKey")
	if len(stateKey) > maxEventTypeBytes {
		return matrixerr.InvalidParam("the state key must be at most 255 bytes")
	}
	content, err := decodeContent(w, r)
	if err != nil {
		return err
	}
	if typ == "m.room.member" {
		if _, err := a.targetUserID(r.Context(), roomID, stateKey); err != nil {
			return err
		}
	}
	if typ == "m.room.canonical_alias" && stateKey == "" {
		if err := a.checkCanonicalAlias(r.Context(), roomID, sess.UserID, content); err != nil {
			return err
		}
	}
	pdu, _, err := a.svc.Send(r.Context(), roomID, room.Proposal{
		Type: typ, StateKey: &stateKey, Sender: sess.UserID, Content: content,
	})
	if err != nil {
		return roomErr(err)
	}
	return httpapi.OK(w, map[string]any{"event_id": pdu.EventID()})
}

// checkCanonicalAlias checks the aliases of a new m.room.canonical_alias
// event (400 M_INVALID_PARAM or M_BAD_ALIAS) when the user may send it: a
// user the auth rules would refuse gets their 403 from the event path
// instead, without learning anything about the aliases.
func (a *roomAPI) checkCanonicalAlias(ctx context.Context, roomID id.RoomID, user id.UserID, content []byte) error {
	member, err := a.memberEvent(ctx, roomID, user)
	if err != nil || authrules.MembershipOf(member) != room.MembershipJoin {
		return err
	}
	levels, err := a.powerLevels(ctx, roomID)
	if err != nil {
		return err
	}
	if levels.UserLevel(user) < levels.EventLevel("m.room.canonical_alias", true) {
		return nil
	}
	return directoryErr(a.dir.CheckCanonicalAlias(ctx, roomID, content))
}

// viewStateEvent returns one state event of the state the view allows, or
// 404 M_NOT_FOUND.
func (a *roomAPI) viewStateEvent(ctx context.Context, roomID id.RoomID, v *roomView, typ, stateKey string) (*store.Event, error) {
	notFound := matrixerr.NotFound("the room has no such state event")
	if v.leftAt == nil {
		pdu, err := a.svc.CurrentStateEvent(ctx, roomID, typ, stateKey)
		if err != nil {
			return nil, roomErr(err)
		}
		if pdu == nil {
			return nil, notFound
		}
		e, err := a.db.Event(ctx, pdu.EventID())
		if err != nil {
			return nil, err
		}
		return &e, nil
	}
	// The state when the user left: their leave itself, or the key in the
	// state before it (one key looked up, whatever the room's size).
	left := v.leftAt
	if left.Type == typ && left.StateKey != nil && *left.StateKey == stateKey && !left.Rejected {
		return left, nil
	}
	g, err := a.db.StateGroupBeforeEvent(ctx, left.NID)
	if err != nil {
		return nil, fmt.Errorf("state before %s: %w", left.EventID, err)
	}
	k := store.StateKey{Type: typ, StateKey: stateKey}
	keys, err := a.db.StateKeysAtGroup(ctx, g, []store.StateKey{k})
	if err != nil {
		return nil, err
	}
	nid, ok := keys[k]
	if !ok {
		return nil, notFound
	}
	evs, err := a.db.EventsByNID(ctx, []int64{nid})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, notFound
	}
	return &evs[0], nil
}
