// Spec: Client-Server API § Capabilities negotiation
// OpenAPI: data/api/client-server/capabilities.yaml
// https://spec.matrix.org/v1.19/client-server-api/#capabilities-negotiation

package clientapi

import (
	"net/http"
	"slices"

	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/profile"
)

// profileFieldsDisallowed are the profile fields users may not set here:
// none, every field the keyName grammar allows can be set.
var profileFieldsDisallowed = []string{}

// getCapabilities answers what the authenticated user can do here.
//
// GET /_matrix/client/v3/capabilities
//
// Each capability says what the endpoints behind it do
// (capabilities_test.go checks them against the router): users set any
// profile field (none is in profileFieldsDisallowed), change their
// password, and have no 3PIDs; login tokens are issued when configured. The deprecated
// m.set_displayname and m.set_avatar_url agree with m.profile_fields, as
// the spec requires.
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
			"m.set_displayname": enabled(!slices.Contains(profileFieldsDisallowed, profile.DisplayName)),
			"m.set_avatar_url":  enabled(!slices.Contains(profileFieldsDisallowed, profile.AvatarURL)),
			"m.profile_fields":  map[string]any{"enabled": true, "disallowed": profileFieldsDisallowed},
			"m.3pid_changes":    enabled(false),
			"m.get_login_token": enabled(s.loginTokensEnabled()),
		},
	})
}
