// Spec: Client-Server API § Device management
// OpenAPI: data/api/client-server/device_management.yaml
// https://spec.matrix.org/v1.19/client-server-api/#device-management

package clientapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// clientDevice is the spec's Device object.
type clientDevice struct {
	DeviceID    id.DeviceID `json:"device_id"`
	DisplayName string      `json:"display_name,omitempty"`
	LastSeenIP  string      `json:"last_seen_ip,omitempty"`
	LastSeenTS  int64       `json:"last_seen_ts,omitempty"`
}

func toClientDevice(d Device) clientDevice {
	return clientDevice{DeviceID: d.ID, DisplayName: d.DisplayName, LastSeenIP: d.LastSeenIP, LastSeenTS: d.LastSeenTS}
}

// getDevices lists the user's devices.
//
// GET /_matrix/client/v3/devices
func (s *Server) getDevices(w http.ResponseWriter, r *http.Request, sess session) error {
	devs, err := s.Store.Devices(r.Context(), sess.UserID)
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	out := make([]clientDevice, 0, len(devs))
	for _, d := range devs {
		out = append(out, toClientDevice(d))
	}
	return httpapi.OK(w, map[string]any{"devices": out})
}

// getDevice returns one of the user's devices.
//
// GET /_matrix/client/v3/devices/{deviceId}
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	d, err := s.Store.Device(r.Context(), sess.UserID, id.DeviceID(r.PathValue("deviceId")))
	if isNotFound(err) {
		return matrixerr.NotFound("no such device")
	}
	if err != nil {
		return fmt.Errorf("load device: %w", err)
	}
	return httpapi.OK(w, toClientDevice(d))
}

// maxDeviceDisplayName bounds a device's display name, in characters:
// other users see it (in /keys/query), so it is kept to a name's length.
const maxDeviceDisplayName = 100

// checkDeviceDisplayName refuses a device display name longer than
// maxDeviceDisplayName or holding a NUL (M_INVALID_PARAM).
func checkDeviceDisplayName(name string) error {
	if utf8.RuneCountInString(name) > maxDeviceDisplayName {
		return matrixerr.InvalidParam("a device display name may have at most %d characters", maxDeviceDisplayName)
	}
	if strings.ContainsRune(name, 0) {
		return matrixerr.InvalidParam("a device display name may not hold a NUL character")
	}
	return nil
}

// updateDevice renames one of the user's devices.
//
// PUT /_matrix/client/v3/devices/{deviceId}
//
// Creating devices this way is reserved to application services, which
// Hafen does not have, so an unknown device is 404.
func (s *Server) updateDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.DisplayName != nil {
		if err := checkDeviceDisplayName(*req.DisplayName); err != nil {
			return err
		}
	}
	deviceID := id.DeviceID(r.PathValue("deviceId"))
	var err error
	if req.DisplayName != nil {
		err = s.Store.SetDeviceDisplayName(r.Context(), sess.UserID, deviceID, *req.DisplayName)
	} else {
		_, err = s.Store.Device(r.Context(), sess.UserID, deviceID)
	}
	if isNotFound(err) {
		return matrixerr.NotFound("no such device")
	}
	if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	return httpapi.OK(w, struct{}{})
}

// deleteDevice removes one of the user's devices and its access token.
//
// DELETE /_matrix/client/v3/devices/{deviceId}
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := httpapi.DecodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := s.checkUIA(r, uiaRequest{flows: passwordFlows, userID: sess.UserID, auth: req.Auth}); err != nil {
		return err
	}
	deviceID := id.DeviceID(r.PathValue("deviceId"))
	if err := s.Store.DeleteDevices(r.Context(), sess.UserID, []id.DeviceID{deviceID}); err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	return httpapi.OK(w, struct{}{})
}

// deleteDevices removes several of the user's devices and their tokens.
//
// POST /_matrix/client/v3/delete_devices
func (s *Server) deleteDevices(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		Auth    json.RawMessage `json:"auth"`
		Devices *[]id.DeviceID  `json:"devices"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Devices == nil {
		return matrixerr.MissingParam("devices")
	}
	if _, err := s.checkUIA(r, uiaRequest{flows: passwordFlows, userID: sess.UserID, auth: req.Auth}); err != nil {
		return err
	}
	if err := s.Store.DeleteDevices(r.Context(), sess.UserID, *req.Devices); err != nil {
		return fmt.Errorf("delete devices: %w", err)
	}
	return httpapi.OK(w, struct{}{})
}

// optionalDeviceID parses the device_id a client may give on login or
// registration: "" when absent, 400 M_INVALID_PARAM when not a device ID.
func optionalDeviceID(s string) (id.DeviceID, error) {
	if s == "" {
		return "", nil
	}
	d, err := id.ParseDeviceID(s)
	if err != nil {
		return "", matrixerr.InvalidParam("invalid device_id")
	}
	return d, nil
}
