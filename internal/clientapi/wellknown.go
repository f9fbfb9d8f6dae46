// Spec: Client-Server API § Well-known URIs; Server-Server API § Resolving server names
// OpenAPI: data/api/client-server/wellknown.yaml, data/api/client-server/support.yaml,
// data/api/server-server/wellknown.yaml
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

// SupportContact is one entry of /.well-known/matrix/support's contacts:
// a Matrix user ID or an email address (at least one), and its role.
type SupportContact struct {
	MatrixID     string `json:"matrix_id,omitempty"`
	EmailAddress string `json:"email_address,omitempty"`
	Role         string `json:"role"`
}

// Support is what /.well-known/matrix/support announces.
type Support struct {
	Contacts []SupportContact `json:"contacts,omitempty"`
	Page     string           `json:"support_page,omitempty"`
}

// getWellknownSupport answers the server's contacts and support page; 404
// M_NOT_FOUND when none is configured (the spec's "no support
// information", since the document needs at least one of them).
//
// GET /.well-known/matrix/support
func (s *Server) getWellknownSupport(w http.ResponseWriter, r *http.Request) error {
	if len(s.Support.Contacts) == 0 && s.Support.Page == "" {
		return matrixerr.NotFound("no support information is configured")
	}
	return httpapi.OK(w, s.Support)
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
