// Spec: Client-Server API § Listing rooms (the published room directory)
// OpenAPI: data/api/client-server/list_public_rooms.yaml (getRoomVisibilityOnDirectory, setRoomVisibilityOnDirectory, getPublicRooms, queryPublicRooms)
// https://spec.matrix.org/v1.19/client-server-api/#listing-rooms

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// getRoomVisibilityOnDirectory answers whether a room is published.
//
// GET /_matrix/client/v3/directory/list/room/{roomId}
func (a *roomAPI) getRoomVisibilityOnDirectory(w http.ResponseWriter, r *http.Request) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	vis, err := a.dir.Visibility(r.Context(), roomID)
	if err != nil {
		return directoryErr(err)
	}
	return httpapi.OK(w, map[string]string{"visibility": vis})
}

// setRoomVisibilityOnDirectory publishes a room or withdraws it.
//
// PUT /_matrix/client/v3/directory/list/room/{roomId}
func (a *roomAPI) setRoomVisibilityOnDirectory(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	var body struct {
		Visibility *string `json:"visibility"`
	}
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	vis := directory.VisibilityPublic // the spec's default
	if body.Visibility != nil {
		vis = *body.Visibility
	}
	if vis != directory.VisibilityPublic && vis != directory.VisibilityPrivate {
		return matrixerr.InvalidParam("visibility must be public or private")
	}
	if err := a.dir.SetVisibility(r.Context(), roomID, sess.UserID, vis); err != nil {
		return directoryErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// maxPublicRoomsLimit caps a page of the room directory.
const maxPublicRoomsLimit = 500

// getPublicRooms lists a server's published rooms.
//
// GET /_matrix/client/v3/publicRooms
func (a *roomAPI) getPublicRooms(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := directory.PublicRoomsRequest{Since: q.Get("since")}
	limit, err := httpapi.NonNegativeParam(q, "limit", 0)
	if err != nil {
		return err
	}
	req.Limit = min(limit, maxPublicRoomsLimit)
	server, err := a.directoryServer(r)
	if err != nil {
		return err
	}
	if server != "" {
		// NOTSPEC: the spec lets anyone read a directory without an access
		// token; asking another server on someone's behalf needs one (as
		// in Synapse's default), so that this server is no open relay.
		if _, err := a.s.authenticate(r); err != nil {
			return err
		}
	}
	return a.publicRooms(w, r, server, req)
}

// queryPublicRooms lists a server's published rooms that match a filter.
//
// POST /_matrix/client/v3/publicRooms
func (a *roomAPI) queryPublicRooms(w http.ResponseWriter, r *http.Request, _ session) error {
	var req directory.PublicRoomsRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Limit < 0 {
		return matrixerr.InvalidParam("limit must be a non-negative integer")
	}
	req.Limit = min(req.Limit, maxPublicRoomsLimit)
	server, err := a.directoryServer(r)
	if err != nil {
		return err
	}
	return a.publicRooms(w, r, server, req)
}

// directoryServer reads the server query parameter: empty for this
// server (absent, or this server's name).
func (a *roomAPI) directoryServer(r *http.Request) (id.ServerName, error) {
	q := r.URL.Query().Get("server")
	if q == "" {
		return "", nil
	}
	server, err := id.ParseServerName(q)
	if err != nil {
		return "", matrixerr.InvalidParam("server is not a valid server name")
	}
	if a.isLocalServer(server) {
		return "", nil
	}
	return server, nil
}

// publicRooms answers a directory query of this server (server empty) or
// another one.
func (a *roomAPI) publicRooms(w http.ResponseWriter, r *http.Request, server id.ServerName, req directory.PublicRoomsRequest) error {
	if server != "" {
		raw, err := a.dir.RemotePublicRooms(r.Context(), server, req)
		if err != nil {
			return directoryErr(err)
		}
		return httpapi.OKRawJSON(w, raw)
	}
	out, err := a.dir.PublicRooms(r.Context(), req)
	if err != nil {
		return directoryErr(err)
	}
	return httpapi.OK(w, out)
}
