package fedapi

import (
	"github.com/hafenchat/hafen/internal/httpapi"
)

// Routes registers the Server-Server API on rt, one route per line.
// Endpoints under /_matrix/federation/ require X-Matrix authentication;
// the key endpoints are public, as the spec defines them. Paths no route
// knows answer 404 M_UNRECOGNIZED (the router's fallback).
func (s *Server) Routes(rt *httpapi.Router) {
	rt.Handle("GET /_matrix/key/v2/server", httpapi.HandlerFunc(s.getServerKey))
	rt.Handle("GET /_matrix/key/v2/query/{serverName}", httpapi.HandlerFunc(s.perspectivesKeyQuery))
	rt.Handle("POST /_matrix/key/v2/query", httpapi.HandlerFunc(s.bulkPerspectivesKeyQuery))
	rt.Handle("GET /_matrix/federation/v1/version", s.authed(s.getVersion))
}
