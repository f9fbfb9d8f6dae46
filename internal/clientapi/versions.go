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
// is exactly what this rule gives for the routed operations and coreGaps;
// it also checks that each version from v1.10 on names the tests of the
// behaviour changes listed below (versionBehaviourTests).
//
// The versions also changed behaviour that no operation list captures;
// each was checked against the changelogs of v1.1 to v1.19:
//   - v1.7's server-side aggregation of edits (internal/relations), its
//     m.mentions push rules and the push conditions
//     event_property_is/contains (core/pushrules, whose defaults are
//     v1.19's), its transaction ID scope; v1.8's reports only by room
//     members (reports); v1.9's .m.rule.suppress_edits;
//   - v1.10: /versions answers with or without an access token; erase on
//     /account/deactivate; Retry-After on 429; recursive /relations;
//     m.push_rules refused by /account_data; /.well-known/matrix/support
//     (support settings, 404 without them);
//   - v1.11: authenticated media (/_matrix/client/v1/media, with
//     animated), unsigned.membership, no UIA for a first cross-signing
//     upload;
//   - v1.12: via on /join and /knock; dont_notify and coalesce push
//     actions ignored; the m.get_login_token capability;
//   - v1.13: /rooms/{roomId}/report; the CORS methods of MSC4138;
//     one-time keys claimed in upload order (store.ClaimOneTimeKey);
//   - v1.14: /users/{userId}/report;
//   - v1.15: /room_summary (rooms_summary.go), the hierarchy's
//     allowed_room_ids, encryption and room_version, the m.topic block of
//     createRoom's topic; no OAuth 2.0 API (getAuthMetadata answers 404
//     M_UNRECOGNIZED, and clients use /login);
//   - v1.16: extended profile fields with m.tz checked against the IANA
//     time zones, format=event on GET /state/{type}/{key}, use_state_after
//     and state_after in /sync, room version 12's creators
//     (additional_creators on /upgrade, trusted_private_chat invitees),
//     m.room.create in invite and knock state;
//   - v1.17: the default push rules without the legacy mention rules;
//     device_one_time_keys_count whenever unclaimed keys exist;
//   - v1.18: m.room.redaction through /send; the legacy score of event
//     reports still accepted;
//   - v1.19: unsigned.replaces_state beside prev_content on the read
//     endpoints (/state, /members, /messages, /context, /event) and in
//     /sync timelines.
// Left out on purpose, as optional parts of these versions: the
// m.login.terms registration stage (no terms configured), account locking
// and suspension (Hafen locks and suspends no accounts; the admin
// endpoints of v1.18 belong to the Server Administration module), guest
// access, unauthenticated /room_summary (a MAY), invite blocking (the
// optional Invite permission module of v1.18), policy servers (v1.18's
// Policy Servers module: getWellknownPolicy answers 404, there is none),
// mutual rooms (v1.19's Mutual Rooms module).

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
	"getEvents":   "deprecated /events polling",
	"getOneEvent": "deprecated: GET /rooms/{roomId}/event/{eventId} replaces it",
	"initialSync": "deprecated: /sync replaces it",
	// v1.14 took back roomInitialSync's deprecation because peeking uses
	// it; Hafen offers no peeking (the optional Room Previews module).
	"roomInitialSync": "peeking only, which Hafen does not offer: /sync and /messages serve members",
	"post3PIDs":       "deprecated: add3PID and bind3PID replaced it",
	// Third-party identifiers: Hafen sends no email or SMS and trusts no
	// identity server; m.3pid_changes is disabled, no account has a 3PID,
	// and registration and login offer no 3PID flow, so clients do not
	// call these.
	"requestTokenToRegisterEmail":       "no 3PIDs: registration offers no email stage",
	"requestTokenToRegisterMSISDN":      "no 3PIDs: registration offers no msisdn stage",
	"requestTokenToResetPasswordEmail":  "no 3PIDs: no account can reset its password by email",
	"requestTokenToResetPasswordMSISDN": "no 3PIDs: no account can reset its password by phone",
	// v1.15: Hafen offers the legacy authentication API only; 404
	// M_UNRECOGNIZED is the spec's answer of such a server, and clients
	// then use /login.
	"getAuthMetadata": "no OAuth 2.0 API: 404 M_UNRECOGNIZED sends clients to /login",
	// v1.18: the well-known document of a policy server (the optional
	// Policy Servers module); Hafen is none, and a 404 says so.
	"getWellknownPolicy": "no policy server: 404 means none",
}

// specVersions are the spec versions Hafen advertises: v1.1 through v1.19
// (see above). The legacy r0 paths of the endpoints that existed in r0 are
// served too, but r0.x versions are not listed: clients of today pick the
// v1 paths from the v1.x versions.
var specVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9",
	"v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19"}

// unstableFeatures are the unstable features Hafen advertises, each with
// the routes ("METHOD path") it needs (versions_test.go checks they are
// routed to a handler).
var unstableFeatures = map[string][]string{
	// Extended profiles (spec v1.16, MSC4133): matrix-js-sdk looks for
	// the first flag before it offers them and, with the second, uses the
	// stable paths.
	"uk.tcpip.msc4133":        extendedProfileRoutes,
	"uk.tcpip.msc4133.stable": extendedProfileRoutes,
	// Dehydrated devices (dehydrated_device.go); Element looks for this
	// flag before it offers them.
	"org.matrix.msc3814": {
		"PUT " + msc3814 + "/dehydrated_device",
		"GET " + msc3814 + "/dehydrated_device",
		"DELETE " + msc3814 + "/dehydrated_device",
		"POST " + msc3814 + "/dehydrated_device/{deviceId}/events",
	},
}

// extendedProfileRoutes are the routes of extended profile fields.
var extendedProfileRoutes = []string{
	"GET /_matrix/client/v3/profile/{userId}/{keyName}",
	"PUT /_matrix/client/v3/profile/{userId}/{keyName}",
	"DELETE /_matrix/client/v3/profile/{userId}/{keyName}",
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
