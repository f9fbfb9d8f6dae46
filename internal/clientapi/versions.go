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
// too. Modules Hafen does not offer in any version (media, end-to-end
// encryption and key backup, push, receipts, typing, presence, account
// data, relations and threads, spaces, search) are not listed: clients
// find them missing from their 404 M_UNRECOGNIZED whatever the version.
//
// Hafen advertises the longest prefix of this list whose operations are all
// routed to a handler (versions_test.go keeps specVersions equal to it).
// v1.6 added GET /rooms/{roomId}/timestamp_to_event, which clients call
// (jump to date) on servers that advertise v1.6 and Hafen does not serve
// yet, so the list stops at v1.5 — the oldest version current
// matrix-js-sdk (Element) accepts.
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

// specVersions are the spec versions Hafen advertises: v1.1 through v1.5
// (see versionRequirements). The legacy r0 paths of the endpoints that
// existed in r0 are served too, but r0.x versions are not listed: clients
// of today pick the v1 paths from the v1.x versions.
var specVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5"}

// unstableFeatures are the unstable features Hafen advertises, each with
// the routes ("METHOD path") it needs (versions_test.go checks they are
// routed to a handler).
var unstableFeatures = map[string][]string{
	// Dehydrated devices (dehydrated_device.go); Element looks for this
	// flag before it offers them.
	"org.matrix.msc3814": {
		"PUT " + msc3814 + "/dehydrated_device",
		"GET " + msc3814 + "/dehydrated_device",
		"DELETE " + msc3814 + "/dehydrated_device",
		"POST " + msc3814 + "/dehydrated_device/{deviceId}/events",
	},
}

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
