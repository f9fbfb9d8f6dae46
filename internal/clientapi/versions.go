// Spec: Client-Server API § API Versions
// OpenAPI: data/api/client-server/versions.yaml
// https://spec.matrix.org/v1.19/client-server-api/#api-versions

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// Hafen advertises a spec version when it serves the core API of that
// version and of every earlier one: the operations of the spec's core
// sections, not those of its modules. The spec lets a server that targets
// only some client profiles leave out the modules they do not require, and
// clients learn that a module is missing from its 404 M_UNRECOGNIZED,
// whatever the version. versions_test.go reads the spec's OpenAPI files,
// takes the version that added each operation (x-addedInMatrixVersion;
// none means it predates v1.1, save the few its addedIn table corrects),
// sorts each file into the core or a module, and checks that specVersions
// is exactly what this rule gives for the routed operations and coreGaps.
//
// The versions also changed behaviour that no operation list captures;
// up to v1.9 it was checked against the changelogs: v1.7's server-side
// aggregation of edits (internal/relations), its m.mentions push rules and
// the push conditions event_property_is/contains (core/pushrules, whose
// defaults are v1.19's), its transaction ID scope; v1.8's reports only by
// room members (reports); v1.9's .m.rule.suppress_edits. Past v1.9, these
// core operations are not served yet (the test lists them when it fails):
//   - v1.10: getWellknownSupport (a 404 is a valid answer, meaning no
//     support information, but it stops the list until a check of the
//     behaviour v1.10 and later changed, such as v1.16's state_after in
//     /sync, allows more);
//   - v1.15: getAuthMetadata (OAuth 2.0 login) and getRoomSummary;
//   - v1.18: getWellknownPolicy.
//
// Optional modules not served: Room Previews (peekEvents), Third-party
// Networks lookups, SSO login, Mutual Rooms, Server Administration.
// Appservice-only endpoints are not served either (Hafen has no
// application services).

// coreGaps are the core operations of the advertised versions that Hafen
// does not serve (they answer 404 M_UNRECOGNIZED), each with why clients
// of those versions do not need them. versions_test.go keeps the list
// exact: an operation that gets implemented must leave it.
var coreGaps = map[string]string{
	// Deprecated: clients of v1.1 and later use /sync and /messages.
	"getEvents":       "deprecated /events polling",
	"getOneEvent":     "deprecated: GET /rooms/{roomId}/event/{eventId} replaces it",
	"initialSync":     "deprecated: /sync replaces it",
	"roomInitialSync": "deprecated: /sync and /messages replace it",
	"post3PIDs":       "deprecated: add3PID and bind3PID replaced it",
	// Third-party identifiers: Hafen sends no email or SMS and trusts no
	// identity server; m.3pid_changes is disabled, no account has a 3PID,
	// and registration and login offer no 3PID flow, so clients do not
	// call these.
	"requestTokenToRegisterEmail":       "no 3PIDs: registration offers no email stage",
	"requestTokenToRegisterMSISDN":      "no 3PIDs: registration offers no msisdn stage",
	"requestTokenToResetPasswordEmail":  "no 3PIDs: no account can reset its password by email",
	"requestTokenToResetPasswordMSISDN": "no 3PIDs: no account can reset its password by phone",
}

// specVersions are the spec versions Hafen advertises: v1.1 through v1.9
// (see above). The legacy r0 paths of the endpoints that existed in r0 are
// served too, but r0.x versions are not listed: clients of today pick the
// v1 paths from the v1.x versions.
var specVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9"}

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
