// Spec: Client-Server API § API Versions
// OpenAPI: data/api/client-server/versions.yaml
// https://spec.matrix.org/v1.19/client-server-api/#api-versions

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// specVersions are the spec versions Hafen advertises.
//
// A version in this list tells clients that the endpoints Hafen serves
// behave as that version (and every later one listed) defines them; clients
// gate behaviour on it (is_guest in whoami since v1.2, registration tokens
// since v1.2, logout_devices, …). Every endpoint Hafen serves follows
// v1.19, and spec versions are cumulative, so the honest list is v1.1
// through v1.19. An endpoint Hafen does not have yet answers 404
// M_UNRECOGNIZED, which is how the spec lets a server say "not
// implemented", and clients handle it. Listing fewer versions would buy
// nothing: clients such as matrix-js-sdk refuse servers without "v1.1".
// The legacy r0.x versions are not listed: Hafen serves no /r0/ paths.
var specVersions = []string{
	"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9",
	"v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17",
	"v1.18", "v1.19",
}

// getVersions answers the supported spec versions.
//
// GET /_matrix/client/versions
//
// Hafen advertises no unstable features.
func (s *Server) getVersions(w http.ResponseWriter, r *http.Request) error {
	return httpapi.OK(w, map[string]any{
		"versions":          specVersions,
		"unstable_features": map[string]bool{},
	})
}
