// Spec: Client-Server API § Well-known URIs; Server-Server API § Resolving server names
// OpenAPI: data/api/client-server/wellknown.yaml, data/api/server-server/wellknown.yaml
// https://spec.matrix.org/v1.19/client-server-api/#well-known-uris

package clientapi

import (
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// getWellknown answers the client discovery document.
//
// GET /.well-known/matrix/client
func (s *Server) getWellknown(w http.ResponseWriter, r *http.Request) error {
	return httpapi.OK(w, map[string]any{
		"m.homeserver": map[string]string{"base_url": s.baseURL(r)},
	})
}

// getWellKnown answers the server delegation document ("m.server").
//
// GET /.well-known/matrix/server
func (s *Server) getWellKnown(w http.ResponseWriter, r *http.Request) error {
	if s.WellKnownServer == "" {
		return matrixerr.NotFound("no server delegation is configured")
	}
	return httpapi.OK(w, map[string]string{"m.server": s.WellKnownServer})
}

// baseURL is the Client-Server API URL announced to clients: the configured
// one, or the scheme and host the request came in with.
func (s *Server) baseURL(r *http.Request) string {
	if s.PublicBaseURL != "" {
		return strings.TrimRight(s.PublicBaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
