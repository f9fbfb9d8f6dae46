// Spec: MSC3814 "Dehydrated Devices with SSSS" (unstable prefix org.matrix.msc3814.v1)
// https://github.com/matrix-org/matrix-spec-proposals/pull/3814

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// msc3814 is the path prefix of the dehydrated device endpoints.
const msc3814 = "/_matrix/client/unstable/org.matrix.msc3814.v1"

// DehydratedDevices is what the dehydrated device endpoints need of the
// e2ee service. e2ee.Service implements it.
type DehydratedDevices interface {
	// PutDehydratedDevice replaces the user's dehydrated device.
	PutDehydratedDevice(ctx context.Context, user id.UserID, d e2ee.DehydratedDevice) error
	// GetDehydratedDevice returns the ID and data of the user's
	// dehydrated device.
	GetDehydratedDevice(ctx context.Context, user id.UserID) (id.DeviceID, json.RawMessage, error)
	// DeleteDehydratedDevice deletes it and returns its ID.
	DeleteDehydratedDevice(ctx context.Context, user id.UserID) (id.DeviceID, error)
	// DehydratedDeviceEvents returns a batch of its to-device messages
	// and the token of the next batch.
	DehydratedDeviceEvents(ctx context.Context, user id.UserID, device id.DeviceID, nextBatch string) ([]json.RawMessage, string, error)
}

var _ DehydratedDevices = (*e2ee.Service)(nil)

// dehydratedError maps the e2ee service's errors to the MSC's.
func dehydratedError(err error) error {
	switch {
	case errors.Is(err, e2ee.ErrNoDehydratedDevice):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "no dehydrated device")
	case errors.Is(err, e2ee.ErrNotDehydrated):
		return matrixerr.Wrap(matrixerr.KindForbidden, err, "you may only fetch the messages of your dehydrated device")
	}
	return keysError(err)
}

// putDehydratedDevice uploads a new dehydrated device with its keys,
// replacing the previous one.
//
// PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
func (s *Server) putDehydratedDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		DeviceID     *string                    `json:"device_id"`
		DeviceData   json.RawMessage            `json:"device_data"`
		DisplayName  string                     `json:"initial_device_display_name"`
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkDeviceDisplayName(req.DisplayName); err != nil {
		return err
	}
	switch {
	case req.DeviceID == nil:
		return matrixerr.MissingParam("device_id")
	case req.DeviceData == nil:
		return matrixerr.MissingParam("device_data")
	case req.DeviceKeys == nil:
		return matrixerr.MissingParam("device_keys")
	}
	err := s.DehydratedDevices.PutDehydratedDevice(r.Context(), sess.UserID, e2ee.DehydratedDevice{
		DeviceID:    id.DeviceID(*req.DeviceID),
		DeviceData:  req.DeviceData,
		DisplayName: req.DisplayName,
		Keys:        e2ee.Upload{DeviceKeys: req.DeviceKeys, OneTimeKeys: req.OneTimeKeys, FallbackKeys: req.FallbackKeys},
	})
	if err != nil {
		return dehydratedError(err)
	}
	return httpapi.OK(w, map[string]any{"device_id": *req.DeviceID})
}

// getDehydratedDevice returns the user's dehydrated device.
//
// GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
func (s *Server) getDehydratedDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	dev, data, err := s.DehydratedDevices.GetDehydratedDevice(r.Context(), sess.UserID)
	if err != nil {
		return dehydratedError(err)
	}
	return httpapi.OK(w, map[string]any{"device_id": dev, "device_data": data})
}

// deleteDehydratedDevice deletes the user's dehydrated device.
//
// DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
func (s *Server) deleteDehydratedDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	dev, err := s.DehydratedDevices.DeleteDehydratedDevice(r.Context(), sess.UserID)
	if err != nil {
		return dehydratedError(err)
	}
	return httpapi.OK(w, map[string]any{"device_id": dev})
}

// getDehydratedDeviceEvents returns a batch of the dehydrated device's
// to-device messages.
//
// POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events
func (s *Server) getDehydratedDeviceEvents(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		NextBatch *string `json:"next_batch"`
	}
	if err := httpapi.DecodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	from := ""
	if req.NextBatch != nil {
		from = *req.NextBatch
	}
	events, next, err := s.DehydratedDevices.DehydratedDeviceEvents(r.Context(), sess.UserID, id.DeviceID(r.PathValue("deviceId")), from)
	if err != nil {
		return dehydratedError(err)
	}
	return httpapi.OK(w, map[string]any{"events": events, "next_batch": next})
}
