// Spec: Server-Server API § Server implementation
// OpenAPI: data/api/server-server/version.yaml
// https://spec.matrix.org/v1.19/server-server-api/#server-implementation

package fedapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// getVersion reports the implementation's name and version.
//
// GET /_matrix/federation/v1/version
func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	return httpapi.OK(w, map[string]any{
		"server": map[string]string{"name": ServerImplementationName, "version": s.Version},
	})
}
