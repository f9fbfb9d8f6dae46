// Spec: Client-Server API § Capabilities negotiation
// OpenAPI: data/api/client-server/capabilities.yaml
// https://spec.matrix.org/v1.19/client-server-api/#capabilities-negotiation

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// getCapabilities answers what the authenticated user can do here.
//
// GET /_matrix/client/v3/capabilities
//
// Profile changes and 3PIDs are not implemented yet, so their capabilities
// say so; m.set_displayname and m.set_avatar_url must agree with
// m.profile_fields, and do.
func (s *Server) getCapabilities(w http.ResponseWriter, r *http.Request, _ session) error {
	available := map[string]string{}
	for _, v := range roomversion.All() {
		stability := "unstable"
		if v.Stable {
			stability = "stable"
		}
		available[string(v.ID)] = stability
	}
	enabled := func(b bool) map[string]bool { return map[string]bool{"enabled": b} }
	return httpapi.OK(w, map[string]any{
		"capabilities": map[string]any{
			"m.change_password": enabled(true),
			"m.room_versions": map[string]any{
				"default":   string(s.defaultRoomVersion().ID),
				"available": available,
			},
			"m.set_displayname": enabled(false),
			"m.set_avatar_url":  enabled(false),
			"m.profile_fields":  enabled(false),
			"m.3pid_changes":    enabled(false),
			"m.get_login_token": enabled(s.loginTokensEnabled()),
		},
	})
}
