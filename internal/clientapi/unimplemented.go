// Spec: Client-Server API § Common error codes (M_UNRECOGNIZED for the operations Hafen does not implement yet)
// OpenAPI: data/api/client-server/*.yaml (copied to testdata/openapi)
// https://spec.matrix.org/v1.19/client-server-api/#common-error-codes

package clientapi

import (
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// unimplementedOp is an operation of the spec's OpenAPI files that Hafen
// does not implement yet.
type unimplementedOp struct {
	// operationID is the operation's operationId.
	operationID string
	// method is the HTTP method.
	method string
	// path is the spec's base path (the file's servers block) and path, as
	// a ServeMux path: a trailing slash gets "{$}" so that it matches only
	// itself, not the whole subtree.
	path string
	// reason says why Hafen does not implement the operation (yet); the
	// answer carries it.
	reason string
}

// Reasons shared by several operations of unimplementedOps.
const (
	reasonAdminAPI   = "server administration comes with the admin API, still to come"
	reasonAppservice = "application services are still to come"
	reasonNo3PID     = "Hafen sends no email or SMS and has no identity server: accounts have no third-party identifiers"
	reasonOldSync    = "deprecated (the old sync API): clients use /sync"
	reasonURLPreview = "URL previews make the server fetch any address a user names; they wait for a fetcher guarded against requests into the operator's network"
	reasonSSO        = "no single sign-on provider: the login flows do not offer m.login.sso"
)

func (op unimplementedOp) pattern() string { return op.method + " " + op.path }

// unimplementedOps lists, grouped by OpenAPI file, every operation Hafen
// answers with 404 M_UNRECOGNIZED. Implementing one means routing it in
// routes.go and deleting its line here; routes_spec_test.go checks that
// every operation of the spec is in exactly one of the two places.
var unimplementedOps = []unimplementedOp{
	// admin.yaml
	{"getWhoIs", "GET", "/_matrix/client/v3/admin/whois/{userId}", reasonAdminAPI},
	{"getAdminSuspendUser", "GET", "/_matrix/client/v1/admin/suspend/{userId}", reasonAdminAPI},
	{"setAdminSuspendUser", "PUT", "/_matrix/client/v1/admin/suspend/{userId}", reasonAdminAPI},
	{"getAdminLockUser", "GET", "/_matrix/client/v1/admin/lock/{userId}", reasonAdminAPI},
	{"setAdminLockUser", "PUT", "/_matrix/client/v1/admin/lock/{userId}", reasonAdminAPI},
	// administrative_contact.yaml
	{"post3PIDs", "POST", "/_matrix/client/v3/account/3pid", "deprecated: /account/3pid/add and /bind replace it (add answers that this server makes no 3PID changes, bind that it trusts no identity server)"},
	// appservice_ping.yaml
	{"pingAppservice", "POST", "/_matrix/client/v1/appservice/{appserviceId}/ping", reasonAppservice},
	// appservice_room_directory.yaml
	{"updateAppserviceRoomDirectoryVisibility", "PUT", "/_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}", reasonAppservice},
	// authed-content-repo.yaml
	{"getUrlPreviewAuthed", "GET", "/_matrix/client/v1/media/preview_url", reasonURLPreview},
	// content-repo.yaml
	{"getUrlPreview", "GET", "/_matrix/media/v3/preview_url", reasonURLPreview},
	// mutual_rooms.yaml
	{"getMutualRooms", "GET", "/_matrix/client/v1/mutual_rooms", "optional: clients ask for it only where a server advertises it, and Hafen does not"},
	// oauth_server_metadata.yaml
	{"getAuthMetadata", "GET", "/_matrix/client/v1/auth_metadata", "OAuth 2.0 login is still to come: clients log in through /login"},
	// old_sync.yaml
	{"getEvents", "GET", "/_matrix/client/v3/events", reasonOldSync},
	{"initialSync", "GET", "/_matrix/client/v3/initialSync", reasonOldSync},
	{"getOneEvent", "GET", "/_matrix/client/v3/events/{eventId}", reasonOldSync},
	// password_management.yaml
	{"requestTokenToResetPasswordEmail", "POST", "/_matrix/client/v3/account/password/email/requestToken", reasonNo3PID},
	{"requestTokenToResetPasswordMSISDN", "POST", "/_matrix/client/v3/account/password/msisdn/requestToken", reasonNo3PID},
	// peeking_events.yaml
	{"peekEvents", "GET", "/_matrix/client/v3/events", "peeking into rooms one has not joined is left out: /sync serves the rooms of the user, and world-readable rooms are read with /messages and /state"},
	// policy_server.yaml
	{"getWellknownPolicy", "GET", "/.well-known/matrix/policy_server", "served by policy servers, which a room may name; a homeserver that is none has no key to give"},
	// registration.yaml
	{"requestTokenToRegisterEmail", "POST", "/_matrix/client/v3/register/email/requestToken", reasonNo3PID},
	{"requestTokenToRegisterMSISDN", "POST", "/_matrix/client/v3/register/msisdn/requestToken", reasonNo3PID},
	// room_initial_sync.yaml
	{"roomInitialSync", "GET", "/_matrix/client/v3/rooms/{roomId}/initialSync", "a one-room snapshot of the old sync API: clients use /sync, /messages and /state"},
	// sso_login_redirect.yaml
	{"redirectToSSO", "GET", "/_matrix/client/v3/login/sso/redirect", reasonSSO},
	{"redirectToIdP", "GET", "/_matrix/client/v3/login/sso/redirect/{idpId}", reasonSSO},
}

// registerUnimplemented registers the operations of unimplementedOps, each
// answering 404 M_UNRECOGNIZED. Call it after every real route: a table line
// whose route is already registered is skipped rather than registered
// twice, which would panic (routes_spec_test.go reports such a line). A
// line whose route overlaps a real one in another way panics at startup, as
// any conflicting route does.
// Operations that share a route (old_sync.yaml's getEvents and
// peeking_events.yaml's peekEvents are both GET /events) share one handler.
func registerUnimplemented(rt *httpapi.Router) {
	taken := make(map[string]bool)
	for _, p := range rt.Patterns() {
		taken[routeKey(p)] = true
	}
	handlers := make(map[string]*unimplemented)
	var patterns []string
	for _, op := range unimplementedOps {
		key := routeKey(op.pattern())
		if taken[key] {
			continue
		}
		h, ok := handlers[key]
		if !ok {
			h = &unimplemented{}
			handlers[key] = h
			patterns = append(patterns, op.pattern())
		}
		h.ops = append(h.ops, op)
	}
	for _, p := range patterns {
		rt.Handle(p, handlers[routeKey(p)])
	}
}

// routeKey returns a ServeMux pattern with its wildcard names removed, so
// that two patterns ServeMux would reject as duplicates ("GET /a/{x}" and
// "GET /a/{y}") get the same key.
func routeKey(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			if strings.HasSuffix(seg, "...}") {
				segs[i] = "{...}"
			} else {
				segs[i] = "{}"
			}
		}
	}
	return strings.Join(segs, "/")
}

// unimplemented answers a route of operations Hafen does not implement.
// The spec (Common error codes, M_UNRECOGNIZED) expects 404 for an
// endpoint the server does not implement.
type unimplemented struct {
	// ops are the operations that share the route.
	ops []unimplementedOp
}

// ServeHTTP answers 404 M_UNRECOGNIZED naming the operation and why it is
// not implemented.
func (u *unimplemented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpapi.HandlerFunc(u.answer).ServeHTTP(w, r)
}

func (u *unimplemented) answer(http.ResponseWriter, *http.Request) error {
	parts := make([]string, len(u.ops))
	for i, op := range u.ops {
		parts[i] = op.operationID + " is not implemented: " + op.reason
	}
	return matrixerr.Unrecognized(strings.Join(parts, "; "))
}
