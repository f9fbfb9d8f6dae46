// Spec: Client-Server API § Room aliases
// OpenAPI: data/api/client-server/directory.yaml (setRoomAlias, getRoomIdByAlias, deleteRoomAlias, getLocalAliases)
// https://spec.matrix.org/v1.19/client-server-api/#room-aliases

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
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

// Directory is the local room directory the alias endpoints go through.
// directory.Service implements it.
type Directory interface {
	Lookup(ctx context.Context, alias id.RoomAlias) (directory.Alias, error)
	Aliases(ctx context.Context, roomID id.RoomID) ([]id.RoomAlias, error)
	Create(ctx context.Context, alias id.RoomAlias, roomID id.RoomID, creator id.UserID) error
	Delete(ctx context.Context, alias id.RoomAlias, user id.UserID) error
	CheckCanonicalAlias(ctx context.Context, roomID id.RoomID, content []byte) error
	MoveDirectory(ctx context.Context, from, to id.RoomID) ([]id.RoomAlias, error)

	Visibility(ctx context.Context, roomID id.RoomID) (string, error)
	SetVisibility(ctx context.Context, roomID id.RoomID, user id.UserID, visibility string) error
	PublicRooms(ctx context.Context, req directory.PublicRoomsRequest) (*directory.PublicRooms, error)
	RemotePublicRooms(ctx context.Context, server id.ServerName, req directory.PublicRoomsRequest) (json.RawMessage, error)
}

// directoryErr turns an error of the directory into the Matrix error the
// spec names; other errors go through roomErr.
func directoryErr(err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "unknown room alias")
	case errors.Is(err, directory.ErrExists):
		return matrixerr.Wrap(matrixerr.KindConflict, err, "the room alias already exists")
	case errors.Is(err, directory.ErrNotLocal):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	case errors.Is(err, directory.ErrNotJoined), errors.Is(err, directory.ErrNotCreator):
		return matrixerr.Wrap(matrixerr.KindForbidden, err, err.Error())
	case errors.Is(err, directory.ErrInvalidAlias):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	case errors.Is(err, directory.ErrBadAlias):
		return matrixerr.Wrap(matrixerr.KindBadAlias, err, err.Error())
	case errors.Is(err, directory.ErrRoomUnknown):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "room not found")
	case errors.Is(err, directory.ErrNotAllowed):
		return matrixerr.Wrap(matrixerr.KindForbidden, err, err.Error())
	case errors.Is(err, directory.ErrBadToken):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	case errors.Is(err, directory.ErrRemote):
		return matrixerr.Wrap(matrixerr.KindRemoteUnavailable, err, "the remote server did not answer")
	}
	return roomErr(err)
}

// setRoomAlias maps a new local alias to a room the user is joined to.
//
// PUT /_matrix/client/v3/directory/room/{roomAlias}
func (a *roomAPI) setRoomAlias(w http.ResponseWriter, r *http.Request, sess session) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	var body struct {
		RoomID *string `json:"room_id"`
	}
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.RoomID == nil {
		return matrixerr.MissingParam("room_id")
	}
	roomID, err := id.ParseRoomID(*body.RoomID)
	if err != nil {
		return matrixerr.InvalidParam("room_id is not a valid room ID")
	}
	if err := a.dir.Create(r.Context(), alias, roomID, sess.UserID); err != nil {
		return directoryErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// getRoomIDByAlias resolves an alias: a local one from the directory,
// another server's by asking that server.
//
// GET /_matrix/client/v3/directory/room/{roomAlias}
func (a *roomAPI) getRoomIDByAlias(w http.ResponseWriter, r *http.Request) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	if alias.Domain() != a.s.ServerName && a.remote != nil {
		roomID, servers, err := a.remoteAlias(r.Context(), alias)
		if err != nil {
			return err
		}
		// remoteAlias puts the alias's server first; it may be listed
		// again among the room's servers.
		var unique []id.ServerName
		for _, s := range servers {
			if !slices.Contains(unique, s) {
				unique = append(unique, s)
			}
		}
		return httpapi.OK(w, map[string]any{"room_id": roomID, "servers": unique})
	}
	ra, err := a.dir.Lookup(r.Context(), alias)
	if err != nil {
		return directoryErr(err)
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
	if err := a.dir.Delete(r.Context(), alias, sess.UserID); err != nil {
		return directoryErr(err)
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
	aliases, err := a.dir.Aliases(r.Context(), roomID)
	if err != nil {
		return err
	}
	if aliases == nil {
		aliases = []id.RoomAlias{}
	}
	return httpapi.OK(w, map[string]any{"aliases": aliases})
}
