// Spec: Server-Server API § Spaces
// OpenAPI: data/api/server-server/space_hierarchy.yaml (getSpaceHierarchy)
// https://spec.matrix.org/v1.19/server-server-api/#spaces

package fedapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/spaces"
)

// Spaces answers other servers' hierarchy queries (*spaces.Service).
type Spaces interface {
	FederationHierarchy(ctx context.Context, origin id.ServerName, roomID id.RoomID, suggestedOnly bool) (*spaces.FederationAnswer, error)
}

var _ Spaces = (*spaces.Service)(nil)

// getSpaceHierarchy answers a space and its children for another server.
//
// GET /_matrix/federation/v1/hierarchy/{roomId}
func (s *Server) getSpaceHierarchy(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	suggested := false
	switch r.URL.Query().Get("suggested_only") {
	case "", "false":
	case "true":
		suggested = true
	default:
		return matrixerr.InvalidParam("suggested_only must be true or false")
	}
	if s.Spaces == nil {
		return matrixerr.NotFound("unknown room")
	}
	ans, err := s.Spaces.FederationHierarchy(r.Context(), origin, roomID, suggested)
	if errors.Is(err, spaces.ErrForbidden) {
		// The spec's 404: the room is not known, or not accessible to the
		// asking server.
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "unknown room")
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, ans)
}
