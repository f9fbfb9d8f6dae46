// Spec: Client-Server API § Room aliases
// OpenAPI: data/api/client-server/directory.yaml (setRoomAlias, getRoomIdByAlias, deleteRoomAlias, getLocalAliases)
// https://spec.matrix.org/v1.19/client-server-api/#room-aliases

package clientapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// pathAlias parses the {roomAlias} path parameter: 400 M_INVALID_PARAM if
// it is not a room alias.
func pathAlias(r *http.Request) (id.RoomAlias, error) {
	alias, err := id.ParseRoomAlias(r.PathValue("roomAlias"))
	if err != nil {
		return "", matrixerr.InvalidParam("roomAlias is not a valid room alias")
	}
	return alias, nil
}

// lookupAlias returns the directory entry of an alias: 404 M_NOT_FOUND if
// the directory does not hold it.
func (a *roomAPI) lookupAlias(ctx context.Context, alias id.RoomAlias) (store.RoomAlias, error) {
	ra, err := a.db.RoomAlias(ctx, alias)
	if errors.Is(err, store.ErrNotFound) {
		// TODO(#3): query other servers' aliases over federation.
		return store.RoomAlias{}, matrixerr.NotFound("unknown room alias")
	}
	if err != nil {
		return store.RoomAlias{}, err
	}
	return ra, nil
}

// setRoomAlias maps a new local alias to a room the user is joined to.
//
// PUT /_matrix/client/v3/directory/room/{roomAlias}
func (a *roomAPI) setRoomAlias(w http.ResponseWriter, r *http.Request, sess session) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	if !a.isLocalServer(alias.Domain()) {
		return matrixerr.InvalidParam("room aliases of other servers cannot be created here")
	}
	var body struct {
		RoomID *string `json:"room_id"`
	}
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.RoomID == nil {
		return matrixerr.BadJSON("room_id is required")
	}
	roomID, err := id.ParseRoomID(*body.RoomID)
	if err != nil {
		return matrixerr.InvalidParam("room_id is not a valid room ID")
	}
	ctx := r.Context()
	member, err := a.memberEvent(ctx, roomID, sess.UserID)
	if err != nil {
		return err
	}
	if authrules.MembershipOf(member) != room.MembershipJoin {
		return matrixerr.Forbidden("you must be joined to the room to give it an alias")
	}
	err = a.db.Write(ctx, func(tx *store.Tx) error {
		return tx.CreateRoomAlias(ctx, store.RoomAlias{Alias: alias, RoomID: roomID, Creator: sess.UserID})
	})
	if errors.Is(err, store.ErrExists) {
		return matrixerr.Conflict("the room alias already exists")
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, struct{}{})
}

// getRoomIDByAlias resolves a local alias.
//
// GET /_matrix/client/v3/directory/room/{roomAlias}
func (a *roomAPI) getRoomIDByAlias(w http.ResponseWriter, r *http.Request) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	ra, err := a.lookupAlias(r.Context(), alias)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{
		"room_id": ra.RoomID,
		"servers": []id.ServerName{a.s.ServerName},
	})
}

// deleteRoomAlias removes a local alias. Only its creator or a server
// admin may, as the spec suggests.
//
// DELETE /_matrix/client/v3/directory/room/{roomAlias}
func (a *roomAPI) deleteRoomAlias(w http.ResponseWriter, r *http.Request, sess session) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ra, err := a.lookupAlias(ctx, alias)
	if err != nil {
		return err
	}
	if ra.Creator != sess.UserID {
		u, err := a.db.User(ctx, sess.UserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !u.IsAdmin {
			return matrixerr.Forbidden("only the alias's creator or a server admin may delete it")
		}
	}
	err = a.db.Write(ctx, func(tx *store.Tx) error { return tx.DeleteRoomAlias(ctx, alias) })
	if errors.Is(err, store.ErrNotFound) {
		return matrixerr.NotFound("unknown room alias")
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, struct{}{})
}

// getLocalAliases lists a room's local aliases, for its members and for
// anyone if the room is world_readable.
//
// GET /_matrix/client/v3/rooms/{roomId}/aliases
func (a *roomAPI) getLocalAliases(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := a.pathRoomCurrentView(r, sess)
	if err != nil {
		return err
	}
	aliases, err := a.db.RoomAliases(r.Context(), roomID)
	if err != nil {
		return err
	}
	if aliases == nil {
		aliases = []id.RoomAlias{}
	}
	return httpapi.OK(w, map[string]any{"aliases": aliases})
}
