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
}

func (op unimplementedOp) pattern() string { return op.method + " " + op.path }

// unimplementedOps lists, grouped by OpenAPI file, every operation Hafen
// answers with 404 M_UNRECOGNIZED. Implementing one means routing it in
// routes.go and deleting its line here; routes_spec_test.go checks that
// every operation of the spec is in exactly one of the two places.
var unimplementedOps = []unimplementedOp{
	// admin.yaml
	{"getWhoIs", "GET", "/_matrix/client/v3/admin/whois/{userId}"},
	{"getAdminSuspendUser", "GET", "/_matrix/client/v1/admin/suspend/{userId}"},
	{"setAdminSuspendUser", "PUT", "/_matrix/client/v1/admin/suspend/{userId}"},
	{"getAdminLockUser", "GET", "/_matrix/client/v1/admin/lock/{userId}"},
	{"setAdminLockUser", "PUT", "/_matrix/client/v1/admin/lock/{userId}"},
	// administrative_contact.yaml
	{"post3PIDs", "POST", "/_matrix/client/v3/account/3pid"},
	// appservice_ping.yaml
	{"pingAppservice", "POST", "/_matrix/client/v1/appservice/{appserviceId}/ping"},
	// appservice_room_directory.yaml
	{"updateAppserviceRoomDirectoryVisibility", "PUT", "/_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}"},
	// authed-content-repo.yaml
	{"getUrlPreviewAuthed", "GET", "/_matrix/client/v1/media/preview_url"},
	// content-repo.yaml
	{"getUrlPreview", "GET", "/_matrix/media/v3/preview_url"},
	// mutual_rooms.yaml
	{"getMutualRooms", "GET", "/_matrix/client/v1/mutual_rooms"},
	// oauth_server_metadata.yaml
	{"getAuthMetadata", "GET", "/_matrix/client/v1/auth_metadata"},
	// old_sync.yaml
	{"getEvents", "GET", "/_matrix/client/v3/events"},
	{"initialSync", "GET", "/_matrix/client/v3/initialSync"},
	{"getOneEvent", "GET", "/_matrix/client/v3/events/{eventId}"},
	// password_management.yaml
	{"requestTokenToResetPasswordEmail", "POST", "/_matrix/client/v3/account/password/email/requestToken"},
	{"requestTokenToResetPasswordMSISDN", "POST", "/_matrix/client/v3/account/password/msisdn/requestToken"},
	// peeking_events.yaml
	{"peekEvents", "GET", "/_matrix/client/v3/events"},
	// policy_server.yaml
	{"getWellknownPolicy", "GET", "/.well-known/matrix/policy_server"},
	// registration.yaml
	{"requestTokenToRegisterEmail", "POST", "/_matrix/client/v3/register/email/requestToken"},
	{"requestTokenToRegisterMSISDN", "POST", "/_matrix/client/v3/register/msisdn/requestToken"},
	// room_initial_sync.yaml
	{"roomInitialSync", "GET", "/_matrix/client/v3/rooms/{roomId}/initialSync"},
	// sso_login_redirect.yaml
	{"redirectToSSO", "GET", "/_matrix/client/v3/login/sso/redirect"},
	{"redirectToIdP", "GET", "/_matrix/client/v3/login/sso/redirect/{idpId}"},
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
		h.operationIDs = append(h.operationIDs, op.operationID)
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
	// operationIDs are the operations that share the route.
	operationIDs []string
}

// ServeHTTP answers 404 M_UNRECOGNIZED naming the operation.
func (u *unimplemented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpapi.HandlerFunc(u.answer).ServeHTTP(w, r)
}

func (u *unimplemented) answer(http.ResponseWriter, *http.Request) error {
	return matrixerr.Unrecognized(strings.Join(u.operationIDs, ", ") + " is not implemented")
}
