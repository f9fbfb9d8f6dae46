// Spec: Client-Server API § Voice over IP, Server behaviour
// OpenAPI: data/api/client-server/voip.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3voipturnserver

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// getTurnServer answers the TURN server credentials for calls.
//
// GET /_matrix/client/v3/voip/turnServer
//
// The homeserver MAY provide a TURN server; Hafen has none configured yet,
// so the answer is an empty object.
//
// NOTSPEC: the 200 schema requires username, password, uris and ttl, and
// the spec gives no other way to say "no TURN server". An empty object is
// what other homeservers answer and what clients (matrix-js-sdk among
// them) read as "none".
//
// TODO(#10): TURN credentials from a configured shared secret (the coturn
// REST scheme).
func (s *Server) getTurnServer(w http.ResponseWriter, r *http.Request, _ session) error {
	return httpapi.OK(w, map[string]any{})
}
