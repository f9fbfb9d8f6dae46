// Spec: Server-Server API § Public Room Directory
// OpenAPI: data/api/server-server/public_rooms.yaml (getPublicRooms, queryPublicRooms)
// https://spec.matrix.org/v1.19/server-server-api/#public-room-directory

package fedapi

import (
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// maxPublicRoomsLimit caps a page of the room directory.
const maxPublicRoomsLimit = 500

// getPublicRooms lists this server's published rooms for another server.
// include_all_networks and third_party_instance_id select application
// service networks, of which this server has none.
//
// GET /_matrix/federation/v1/publicRooms
func (s *Server) getPublicRooms(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	q := r.URL.Query()
	req := directory.PublicRoomsRequest{Since: q.Get("since"), ForServer: origin}
	limit, err := httpapi.NonNegativeParam(q, "limit", 0)
	if err != nil {
		return err
	}
	req.Limit = limit
	return s.publicRooms(w, r, req)
}

// queryPublicRooms lists this server's published rooms that match a
// filter, for another server.
//
// POST /_matrix/federation/v1/publicRooms
func (s *Server) queryPublicRooms(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	var req directory.PublicRoomsRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Limit < 0 {
		return matrixerr.InvalidParam("limit must be a non-negative integer")
	}
	req.ForServer = origin
	return s.publicRooms(w, r, req)
}

func (s *Server) publicRooms(w http.ResponseWriter, r *http.Request, req directory.PublicRoomsRequest) error {
	if req.Limit == 0 || req.Limit > maxPublicRoomsLimit {
		req.Limit = maxPublicRoomsLimit
	}
	out, err := s.Directory.PublicRooms(r.Context(), req)
	if errors.Is(err, directory.ErrBadToken) {
		return matrixerr.InvalidParam("since is not a pagination token of this server")
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, out)
}
