// Spec: Client-Server API § Send-to-Device messaging
// OpenAPI: data/api/client-server/to_device.yaml
// https://spec.matrix.org/v1.19/client-server-api/#send-to-device-messaging

package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// ToDevice is what the send-to-device endpoint needs of the e2ee service.
// e2ee.Service implements it.
type ToDevice interface {
	// SendToDevice queues messages for devices, once per transaction ID
	// of the sending device.
	SendToDevice(ctx context.Context, sender id.UserID, senderDevice id.DeviceID, txnID, eventType string, messages map[id.UserID]map[id.DeviceID]json.RawMessage) error
}

var _ ToDevice = (*e2ee.Service)(nil)

// sendToDevice sends messages to devices. Unknown users and devices are
// skipped, as the spec gives no error for them.
//
// PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}
func (s *Server) sendToDevice(w http.ResponseWriter, r *http.Request, sess session) error {
	var req struct {
		Messages map[id.UserID]map[id.DeviceID]json.RawMessage `json:"messages"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Messages == nil {
		return matrixerr.MissingParam("messages")
	}
	if err := parseUserIDs(req.Messages, "messages"); err != nil {
		return err
	}
	eventType := r.PathValue("eventType")
	if err := checkEventType(eventType); err != nil {
		return err
	}
	txnID, err := pathTxnID(r)
	if err != nil {
		return err
	}
	if err := s.ToDevice.SendToDevice(r.Context(), sess.UserID, sess.DeviceID, txnID, eventType, req.Messages); err != nil {
		return keysError(err)
	}
	return httpapi.OK(w, struct{}{})
}
