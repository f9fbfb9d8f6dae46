// Spec: Server-Server API § Querying for information
// OpenAPI: data/api/server-server/query.yaml
// https://spec.matrix.org/v1.19/server-server-api/#querying-for-information

package fedapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/profile"
)

// queryProfile returns a local user's profile, or one field of it.
//
// GET /_matrix/federation/v1/query/profile
func (s *Server) queryProfile(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	q := r.URL.Query()
	if q.Get("user_id") == "" {
		return matrixerr.MissingParam("user_id")
	}
	user, err := id.ParseUserID(q.Get("user_id"))
	if err != nil {
		return matrixerr.InvalidParam("user_id: %v", err)
	}
	if !strings.EqualFold(string(user.Domain()), string(s.ServerName)) {
		return matrixerr.NotFound("user does not exist")
	}
	out, err := s.Profiles.AllFields(r.Context(), user)
	if errors.Is(err, profile.ErrNotFound) {
		return matrixerr.NotFound("user does not exist")
	}
	if err != nil {
		return err
	}
	if field := q.Get("field"); field != "" {
		v, ok := out[field]
		if !ok {
			return matrixerr.NotFound("the user has no " + field)
		}
		out = profile.Fields{field: v}
	}
	return httpapi.OK(w, out)
}

// queryRoomDirectory resolves a local room alias to its room and the
// servers in the room.
//
// GET /_matrix/federation/v1/query/directory
func (s *Server) queryRoomDirectory(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	q := r.URL.Query()
	if q.Get("room_alias") == "" {
		return matrixerr.MissingParam("room_alias")
	}
	alias, err := id.ParseRoomAlias(q.Get("room_alias"))
	if err != nil {
		return matrixerr.InvalidParam("room_alias: %v", err)
	}
	a, err := s.Directory.Lookup(r.Context(), alias)
	if errors.Is(err, directory.ErrNotFound) {
		return matrixerr.NotFound("room alias not found")
	}
	if err != nil {
		return err
	}
	servers, err := s.Events.ResidentServers(r.Context(), a.RoomID)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"room_id": a.RoomID, "servers": servers})
}
