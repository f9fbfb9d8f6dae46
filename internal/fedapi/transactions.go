// Spec: Server-Server API § Transactions
// OpenAPI: data/api/server-server/transactions.yaml
// https://spec.matrix.org/v1.19/server-server-api/#transactions

package fedapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// sendTransaction takes a transaction of PDUs and EDUs from another server
// and answers with the result of each PDU.
//
// PUT /_matrix/federation/v1/send/{txnId}
func (s *Server) sendTransaction(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	var body struct {
		PDUs []json.RawMessage `json:"pdus"`
		EDUs []fedevents.EDU   `json:"edus"`
	}
	if err := httpapi.DecodeJSONLimit(w, r, &body, MaxRequestBytes); err != nil {
		return err
	}
	txnID := r.PathValue("txnId")
	if txnID == "" {
		return matrixerr.MissingParam("txnId")
	}
	answer, err := s.Events.ProcessTransaction(r.Context(), fedevents.Transaction{Origin: origin, TxnID: txnID, PDUs: body.PDUs, EDUs: body.EDUs})
	switch {
	case errors.Is(err, fedevents.ErrTooManyPDUs), errors.Is(err, fedevents.ErrTooManyEDUs):
		return matrixerr.BadJSON("%v", err)
	case err != nil:
		return err
	}
	return httpapi.OK(w, answer)
}
