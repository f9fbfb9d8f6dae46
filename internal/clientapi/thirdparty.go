// Spec: Client-Server API § Third-party networks
// OpenAPI: data/api/client-server/third_party_lookup.yaml
// https://spec.matrix.org/v1.19/client-server-api/#third-party-networks

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
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
