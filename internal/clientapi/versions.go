// Spec: Client-Server API § API Versions
// OpenAPI: data/api/client-server/versions.yaml
// https://spec.matrix.org/v1.19/client-server-api/#api-versions

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// versionRequirement is what one spec version asks of the server before
// Hafen may advertise it: the operations (by operationId) a client calls
// without probing once it sees the version.
type versionRequirement struct {
	version string
	ops     []string
}

// versionRequirements lists, version by version, the operations each
// introduced in the parts of the Client-Server API Hafen serves (accounts,
// rooms, membership, events, state, sync, profiles, directory). Versions
// are cumulative: advertising one claims every earlier one's operations
// too. Optional modules are not listed: a client finds one Hafen does
// not offer missing from its 404 M_UNRECOGNIZED whatever the version.
//
// Hafen advertises the longest prefix of this list whose operations are all
// routed to a handler (versions_test.go keeps specVersions equal to it).
// v1.15 added the OAuth server metadata, which Hafen does not serve yet,
// so the list stops at v1.14.
var versionRequirements = []versionRequirement{
	{"v1.1", []string{
		// r0's core, which v1.1 carried over
		"getLoginFlows", "login", "logout", "logout_all", "register", "checkUsernameAvailability",
		"getTokenOwner", "changePassword", "deactivateAccount", "getCapabilities",
		"getDevices", "getDevice", "updateDevice", "deleteDevice", "deleteDevices",
		"sync", "defineFilter", "getFilter",
		"createRoom", "joinRoom", "joinRoomById", "inviteUser", "leaveRoom", "forgetRoom",
		"kick", "ban", "unban", "getJoinedRooms",
		"getRoomState", "getRoomStateWithKey", "setRoomStateWithKey",
		"sendMessage", "redactEvent", "getRoomEvents", "getEventContext", "getOneRoomEvent",
		"getMembersByRoom", "getJoinedMembersByRoom",
		"setRoomAlias", "getRoomIdByAlias", "deleteRoomAlias", "getLocalAliases",
		"getUserProfile", "getProfileField", "setProfileField",
		// new in v1.1
		"knockRoom",
	}},
	{"v1.2", []string{"registrationTokenValidity"}},
	{"v1.3", nil},
	{"v1.4", nil},
	{"v1.5", nil},
	{"v1.6", []string{"getEventByTimestamp"}},
	{"v1.7", nil},
	{"v1.8", nil},
	{"v1.9", nil},
	{"v1.10", nil},
	{"v1.11", []string{"getContentAuthed", "getContentThumbnailAuthed", "getConfigAuthed"}},
	{"v1.12", nil},
	{"v1.13", nil},
	{"v1.14", nil},
	{"v1.15", []string{"getAuthMetadata"}},
	{"v1.16", nil},
	{"v1.17", nil},
	{"v1.18", nil},
	{"v1.19", nil},
}

// specVersions are the spec versions Hafen advertises: v1.1 through v1.14
// (see versionRequirements). The legacy r0 paths of the endpoints that
// existed in r0 are served too, but r0.x versions are not listed: clients
// of today pick the v1 paths from the v1.x versions.
var specVersions = []string{
	"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7",
	"v1.8", "v1.9", "v1.10", "v1.11", "v1.12", "v1.13", "v1.14",
}

// unstableFeatures are the unstable features Hafen advertises, each with
// the operations it needs (versions_test.go checks they are routed). There
// are none.
var unstableFeatures = map[string][]string{}

// getVersions answers the supported spec versions.
//
// GET /_matrix/client/versions
func (s *Server) getVersions(w http.ResponseWriter, r *http.Request) error {
	flags := make(map[string]bool, len(unstableFeatures))
	for f := range unstableFeatures {
		flags[f] = true
	}
	return httpapi.OK(w, map[string]any{
		"versions":          specVersions,
		"unstable_features": flags,
	})
}
