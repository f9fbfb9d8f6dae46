// Spec: Client-Server API § Third-party networks
// OpenAPI: data/api/client-server/third_party_lookup.yaml
// https://spec.matrix.org/v1.19/client-server-api/#third-party-networks

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// getProtocols answers the third-party protocols the server can bridge to.
//
// GET /_matrix/client/v3/thirdparty/protocols
//
// Protocols come from application services, which Hafen does not have yet,
// so the answer is an empty object.
func (s *Server) getProtocols(w http.ResponseWriter, r *http.Request, _ session) error {
	return httpapi.OK(w, map[string]any{})
}

// thirdPartyNotFound answers a lookup of a protocol, a portal room or a
// third-party user: with no bridges, none is known, which the spec answers
// 404 M_NOT_FOUND (not M_UNRECOGNIZED: the endpoint exists).
//
// GET /_matrix/client/v3/thirdparty/protocol/{protocol}
// GET /_matrix/client/v3/thirdparty/location/{protocol}
// GET /_matrix/client/v3/thirdparty/user/{protocol}
// GET /_matrix/client/v3/thirdparty/location
// GET /_matrix/client/v3/thirdparty/user
func (s *Server) thirdPartyNotFound(message string) func(w http.ResponseWriter, r *http.Request, _ session) error {
	return func(w http.ResponseWriter, r *http.Request, _ session) error {
		return matrixerr.NotFound(message)
	}
}
