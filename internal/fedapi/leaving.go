// Spec: Server-Server API § Leaving Rooms (Rejecting Invites)
// OpenAPI: data/api/server-server/leaving-v1.yaml (make_leave), data/api/server-server/leaving-v2.yaml
// https://spec.matrix.org/v1.19/server-server-api/#leaving-rooms-rejecting-invites

package fedapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// makeLeave returns a leave event template for a user of the asking
// server.
//
// GET /_matrix/federation/v1/make_leave/{roomId}/{userId}
func (s *Server) makeLeave(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	return s.makeMembership(w, r, origin, "leave", nil)
}

// sendLeaveV2 accepts a leave event signed by the asking server.
//
// PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}
func (s *Server) sendLeaveV2(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	if _, err := s.sendMembership(w, r, origin, "leave"); err != nil {
		return err
	}
	return httpapi.OK(w, struct{}{})
}
