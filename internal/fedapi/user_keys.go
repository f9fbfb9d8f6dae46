// Spec: Server-Server API § Device Management, § End-to-End Encryption
// OpenAPI: data/api/server-server/user_devices.yaml, user_keys.yaml
// https://spec.matrix.org/v1.19/server-server-api/#device-management
// https://spec.matrix.org/v1.19/server-server-api/#end-to-end-encryption

package fedapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// E2EE is what the device and key endpoints need (*e2ee.Service).
type E2EE interface {
	LocalUserDevices(ctx context.Context, user id.UserID) (e2ee.UserDevices, error)
	QueryLocalKeys(ctx context.Context, req map[id.UserID][]id.DeviceID) (e2ee.QueryResult, error)
	ClaimLocalKeys(ctx context.Context, req map[id.UserID]map[id.DeviceID]string) (e2ee.ClaimResult, error)
}

var _ E2EE = (*e2ee.Service)(nil)

// getUserDevices returns a local user's devices and cross-signing keys.
//
// GET /_matrix/federation/v1/user/devices/{userId}
func (s *Server) getUserDevices(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	user, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return matrixerr.InvalidParam("userId: %v", err)
	}
	if user.Domain() != s.ServerName {
		return matrixerr.InvalidParam("%s is not a user of this server", user)
	}
	devs, err := s.E2EE.LocalUserDevices(r.Context(), user)
	if err != nil {
		return err
	}
	return httpapi.OK(w, devs)
}

// userKeysQuery returns the device and cross-signing keys of local users.
//
// POST /_matrix/federation/v1/user/keys/query
func (s *Server) userKeysQuery(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	var req struct {
		DeviceKeys map[id.UserID][]id.DeviceID `json:"device_keys"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.DeviceKeys == nil {
		return matrixerr.MissingParam("device_keys")
	}
	res, err := s.E2EE.QueryLocalKeys(r.Context(), req.DeviceKeys)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{
		"device_keys": res.DeviceKeys, "master_keys": res.MasterKeys, "self_signing_keys": res.SelfSigningKeys,
	})
}

// userKeysClaim claims one-time (or fallback) keys of local users'
// devices.
//
// POST /_matrix/federation/v1/user/keys/claim
func (s *Server) userKeysClaim(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	var req struct {
		OneTimeKeys map[id.UserID]map[id.DeviceID]string `json:"one_time_keys"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OneTimeKeys == nil {
		return matrixerr.MissingParam("one_time_keys")
	}
	res, err := s.E2EE.ClaimLocalKeys(r.Context(), req.OneTimeKeys)
	if errors.Is(err, e2ee.ErrInvalid) {
		return matrixerr.InvalidParam("%v", err)
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"one_time_keys": res.OneTimeKeys})
}
