// Spec: Server-Server API § Retrieving server keys (Publishing Keys,
// Querying Keys Through Another Server)
// OpenAPI: data/api/server-server/keys_server.yaml, data/api/server-server/keys_query.yaml
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys

package fedapi

import (
	"encoding/json"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/serverkeys"
)

// maxKeyQueryBytes caps the body of a bulk key query.
const maxKeyQueryBytes = 64 << 10

// getServerKey publishes this server's keys.
//
// GET /_matrix/key/v2/server
func (s *Server) getServerKey(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.Keys.OwnResponse()
	if err != nil {
		return err
	}
	return httpapi.OK(w, json.RawMessage(resp))
}

// perspectivesKeyQuery answers, as a notary, for one server's keys.
//
// GET /_matrix/key/v2/query/{serverName}
func (s *Server) perspectivesKeyQuery(w http.ResponseWriter, r *http.Request) error {
	server, err := id.ParseServerName(r.PathValue("serverName"))
	if err != nil {
		return matrixerr.InvalidParam("serverName: %v", err)
	}
	minValid, err := httpapi.NonNegativeParam(r.URL.Query(), "minimum_valid_until_ts", 0)
	if err != nil {
		return err
	}
	// No key IDs: all keys of the server.
	return s.answerKeyQuery(w, r, map[id.ServerName]serverkeys.NotaryCriteria{server: {MinimumValidUntilTS: int64(minValid)}})
}

// bulkPerspectivesKeyQuery answers, as a notary, for several servers' keys.
//
// POST /_matrix/key/v2/query
func (s *Server) bulkPerspectivesKeyQuery(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ServerKeys *map[string]map[string]struct {
			MinimumValidUntilTS *int64 `json:"minimum_valid_until_ts"`
		} `json:"server_keys"`
	}
	if err := httpapi.DecodeJSONLimit(w, r, &body, maxKeyQueryBytes); err != nil {
		return err
	}
	if body.ServerKeys == nil {
		return matrixerr.BadJSON("server_keys is required")
	}
	if len(*body.ServerKeys) > serverkeys.MaxNotaryServers {
		// NOTSPEC: the spec sets no limit; one request may not make this
		// server fetch keys from an unbounded number of servers.
		return matrixerr.InvalidParam("at most %d servers per query", serverkeys.MaxNotaryServers)
	}
	query := map[id.ServerName]serverkeys.NotaryCriteria{}
	for name, keys := range *body.ServerKeys {
		server, err := id.ParseServerName(name)
		if err != nil {
			return matrixerr.InvalidParam("server_keys: %v", err)
		}
		var c serverkeys.NotaryCriteria
		for kid, crit := range keys {
			keyID, err := signing.ParseKeyID(kid)
			if err != nil {
				return matrixerr.InvalidParam("server_keys: %s: %v", name, err)
			}
			c.KeyIDs = append(c.KeyIDs, keyID)
			if crit.MinimumValidUntilTS != nil {
				c.MinimumValidUntilTS = max(c.MinimumValidUntilTS, *crit.MinimumValidUntilTS)
			}
		}
		query[server] = c
	}
	return s.answerKeyQuery(w, r, query)
}

func (s *Server) answerKeyQuery(w http.ResponseWriter, r *http.Request, query map[id.ServerName]serverkeys.NotaryCriteria) error {
	resps, err := s.Keys.NotaryQuery(r.Context(), query)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"server_keys": resps})
}
