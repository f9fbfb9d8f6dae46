// Spec: Client-Server API § Current account information
// OpenAPI: data/api/client-server/whoami.yaml
// https://spec.matrix.org/v1.19/client-server-api/#current-account-information

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// getTokenOwner answers who the access token belongs to.
//
// GET /_matrix/client/v3/account/whoami
//
// Hafen has no guests and no application services, so is_guest is false
// and a device is always known.
func (s *Server) getTokenOwner(w http.ResponseWriter, r *http.Request, sess session) error {
	return httpapi.OK(w, map[string]any{
		"user_id":   sess.UserID,
		"device_id": sess.DeviceID,
		"is_guest":  false,
	})
}
