// Spec: Client-Server API § End-to-End Encryption, Key management API
// OpenAPI: data/api/client-server/keys.yaml
// https://spec.matrix.org/v1.19/client-server-api/#key-management-api

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Keys is what the end-to-end encryption endpoints need of the e2ee
// service. e2ee.Service implements it.
type Keys interface {
	// UploadKeys validates and stores a device's keys and returns its
	// one-time key counts.
	UploadKeys(ctx context.Context, user id.UserID, device id.DeviceID, up e2ee.Upload) (map[string]int, error)
	// QueryKeys returns users' identity and cross-signing keys as
	// requester may see them.
	QueryKeys(ctx context.Context, requester id.UserID, req map[id.UserID][]id.DeviceID) (e2ee.QueryResult, error)
	// ClaimKeys hands out one-time (else fallback) keys.
	ClaimKeys(ctx context.Context, req map[id.UserID]map[id.DeviceID]string) (e2ee.ClaimResult, error)
	// CrossSigningNeedsAuth reports whether an upload of cross-signing
	// keys needs User-Interactive Authentication.
	CrossSigningNeedsAuth(ctx context.Context, user id.UserID, up e2ee.CrossSigningUpload) (bool, error)
	// UploadCrossSigningKeys validates and stores cross-signing keys.
	UploadCrossSigningKeys(ctx context.Context, user id.UserID, up e2ee.CrossSigningUpload) error
	// IsCrossSigningKeyID reports whether keyID is the ID of one of the
	// user's cross-signing keys, which no device may take.
	IsCrossSigningKeyID(ctx context.Context, user id.UserID, keyID string) (bool, error)
	// UploadSignatures checks and stores signatures on keys, reporting
	// the keys whose signatures were refused.
	UploadSignatures(ctx context.Context, signer id.UserID, keys map[id.UserID]map[string]json.RawMessage) (e2ee.SignatureFailures, error)
	// ChangedDeviceLists returns the users sharing a room with requester
	// (or requester) whose device lists changed in (after, upTo].
	ChangedDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error)
	// LeftDeviceLists returns the users who stopped sharing any room with
	// requester at event stream positions in (after, upTo].
	LeftDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error)
	// JoinedDeviceLists returns the users who started sharing a room with
	// requester at event stream positions in (after, upTo].
	JoinedDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error)
}

var _ Keys = (*e2ee.Service)(nil)

// keysError maps the e2ee service's errors to the spec's.
func keysError(err error) error {
	switch {
	case errors.Is(err, e2ee.ErrInvalidSignature):
		return matrixerr.Wrap(matrixerr.KindInvalidSignature, err, err.Error())
	case errors.Is(err, e2ee.ErrMissingMasterKey):
		return matrixerr.Wrap(matrixerr.KindMissingParam, err, "no master signing key is available")
	case errors.Is(err, e2ee.ErrUnknownKey):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, err.Error())
	case errors.Is(err, e2ee.ErrInvalid), errors.Is(err, e2ee.ErrKeyChanged):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	}
	return err
}

// parseUserIDs checks the user IDs a request names as map keys.
func parseUserIDs[V any](m map[id.UserID]V, what string) error {
	for u := range m {
		if _, err := id.ParseUserID(string(u)); err != nil {
			return matrixerr.InvalidParam("%s: %q is not a user ID", what, u)
		}
	}
	return nil
}

// uploadKeys publishes the device's identity, one-time and fallback keys.
//
// POST /_matrix/client/v3/keys/upload
func (s *Server) uploadKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	counts, err := s.Keys.UploadKeys(r.Context(), sess.UserID, sess.DeviceID, e2ee.Upload{
		DeviceKeys: req.DeviceKeys, OneTimeKeys: req.OneTimeKeys, FallbackKeys: req.FallbackKeys,
	})
	if err != nil {
		return keysError(err)
	}
	return httpapi.OK(w, map[string]any{"one_time_key_counts": counts})
}

// queryKeys returns the identity and cross-signing keys of users.
//
// POST /_matrix/client/v3/keys/query
func (s *Server) queryKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		DeviceKeys map[id.UserID][]id.DeviceID `json:"device_keys"`
		Timeout    *int64                      `json:"timeout"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.DeviceKeys == nil {
		return matrixerr.MissingParam("device_keys")
	}
	if err := parseUserIDs(req.DeviceKeys, "device_keys"); err != nil {
		return err
	}
	res, err := s.Keys.QueryKeys(remoteTimeout(r, req.Timeout), sess.UserID, req.DeviceKeys)
	if err != nil {
		return keysError(err)
	}
	return httpapi.OK(w, map[string]any{
		"device_keys":       res.DeviceKeys,
		"master_keys":       res.MasterKeys,
		"self_signing_keys": res.SelfSigningKeys,
		"user_signing_keys": res.UserSigningKeys,
		"failures":          failuresJSON(res.Failures),
	})
}

// remoteTimeout returns the request's context carrying the client's
// timeout for other servers, if it gave a positive one.
func remoteTimeout(r *http.Request, timeoutMS *int64) context.Context {
	if timeoutMS == nil || *timeoutMS <= 0 {
		return r.Context()
	}
	return e2ee.WithRemoteTimeout(r.Context(), time.Duration(min(*timeoutMS, e2ee.MaxRemoteTimeout.Milliseconds()))*time.Millisecond)
}

// failuresJSON renders the servers that could not be reached.
func failuresJSON(servers map[id.ServerName]struct{}) map[id.ServerName]any {
	out := make(map[id.ServerName]any, len(servers))
	for srv := range servers {
		out[srv] = map[string]any{}
	}
	return out
}

// claimKeys hands out one-time keys of other devices.
//
// POST /_matrix/client/v3/keys/claim
func (s *Server) claimKeys(w http.ResponseWriter, r *http.Request, _ session) error {
	var req struct {
		OneTimeKeys map[id.UserID]map[id.DeviceID]string `json:"one_time_keys"`
		Timeout     *int64                               `json:"timeout"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OneTimeKeys == nil {
		return matrixerr.MissingParam("one_time_keys")
	}
	if err := parseUserIDs(req.OneTimeKeys, "one_time_keys"); err != nil {
		return err
	}
	res, err := s.Keys.ClaimKeys(remoteTimeout(r, req.Timeout), req.OneTimeKeys)
	if err != nil {
		return keysError(err)
	}
	return httpapi.OK(w, map[string]any{
		"one_time_keys": res.OneTimeKeys,
		"failures":      failuresJSON(res.Failures),
	})
}

// getKeysChanges lists the users whose device lists changed between two
// sync tokens and who share a room with the requester.
//
// GET /_matrix/client/v3/keys/changes
func (s *Server) getKeysChanges(w http.ResponseWriter, r *http.Request, sess session) error {
	q := r.URL.Query()
	var toks [2]clientsync.SyncToken
	for i, name := range []string{"from", "to"} {
		raw := q.Get(name)
		if raw == "" {
			return matrixerr.MissingParam(name)
		}
		tok, err := clientsync.ParseSyncToken(raw)
		if err != nil {
			return matrixerr.InvalidParam("%s is not a sync token", name)
		}
		toks[i] = tok
	}
	changed, err := s.Keys.ChangedDeviceLists(r.Context(), sess.UserID, toks[0].DeviceLists, toks[1].DeviceLists)
	if err != nil {
		return fmt.Errorf("device list changes: %w", err)
	}
	if changed == nil {
		changed = []id.UserID{}
	}
	left, err := s.Keys.LeftDeviceLists(r.Context(), sess.UserID, toks[0].Events, toks[1].Events)
	if err != nil {
		return fmt.Errorf("device list changes: %w", err)
	}
	// Users who started sharing a room with the requester between the
	// tokens are changed too: the requester must fetch their keys.
	joined, err := s.Keys.JoinedDeviceLists(r.Context(), sess.UserID, toks[0].Events, toks[1].Events)
	if err != nil {
		return fmt.Errorf("device list changes: %w", err)
	}
	for _, u := range joined {
		if !slices.Contains(changed, u) {
			changed = append(changed, u)
		}
	}
	slices.Sort(changed)
	return httpapi.OK(w, map[string]any{"changed": changed, "left": left})
}
