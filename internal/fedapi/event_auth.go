// Spec: Server-Server API § Retrieving event authorisation information
// OpenAPI: data/api/server-server/event_auth.yaml
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-event-authorisation-information

package fedapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// getEventAuth returns the auth chain of an event.
//
// GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}
func (s *Server) getEventAuth(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	roomID, eventID, err := pathRoomAndEvent(r)
	if err != nil {
		return err
	}
	chain, err := s.Events.EventAuth(r.Context(), origin, roomID, eventID)
	if err != nil {
		return eventsError(err)
	}
	return httpapi.OK(w, map[string]any{"auth_chain": pduList(chain)})
}
