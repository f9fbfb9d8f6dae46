// Spec: Client-Server API § End-to-End Encryption, Cross-signing
// OpenAPI: data/api/client-server/cross_signing.yaml
// https://spec.matrix.org/v1.19/client-server-api/#cross-signing

package clientapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// uploadCrossSigningKeys publishes the user's cross-signing keys. It needs
// User-Interactive Authentication unless the user has no master key yet
// or the request repeats the keys the user has.
//
// POST /_matrix/client/v3/keys/device_signing/upload
func (s *Server) uploadCrossSigningKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		MasterKey      json.RawMessage `json:"master_key"`
		SelfSigningKey json.RawMessage `json:"self_signing_key"`
		UserSigningKey json.RawMessage `json:"user_signing_key"`
		Auth           json.RawMessage `json:"auth"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	up := e2ee.CrossSigningUpload{Master: req.MasterKey, SelfSigning: req.SelfSigningKey, UserSigning: req.UserSigningKey}
	needsAuth, err := s.Keys.CrossSigningNeedsAuth(r.Context(), sess.UserID, up)
	if err != nil {
		return fmt.Errorf("check cross-signing upload: %w", err)
	}
	if needsAuth {
		if _, err := s.checkUIA(r, uiaRequest{flows: passwordFlows, userID: sess.UserID, auth: req.Auth}); err != nil {
			return err
		}
	}
	if err := s.Keys.UploadCrossSigningKeys(r.Context(), sess.UserID, up); err != nil {
		return keysError(err)
	}
	return httpapi.OK(w, struct{}{})
}

// uploadCrossSigningSignatures publishes signatures on keys.
//
// POST /_matrix/client/v3/keys/signatures/upload
func (s *Server) uploadCrossSigningSignatures(w http.ResponseWriter, r *http.Request, sess session) error {
	var req map[id.UserID]map[string]json.RawMessage
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := parseUserIDs(req, "signatures"); err != nil {
		return err
	}
	failures, err := s.Keys.UploadSignatures(r.Context(), sess.UserID, req)
	if err != nil {
		return keysError(err)
	}
	out := map[id.UserID]map[string]any{}
	for user, keys := range failures {
		out[user] = map[string]any{}
		for keyID, ferr := range keys {
			me := asMatrixErr(keysError(ferr))
			out[user][keyID] = map[string]string{"errcode": me.Code(), "error": me.Message}
		}
	}
	return httpapi.OK(w, map[string]any{"failures": out})
}
