// Spec: Client-Server API § Adding Account Administrative Contact Information
// OpenAPI: data/api/client-server/administrative_contact.yaml
// https://spec.matrix.org/v1.19/client-server-api/#adding-account-administrative-contact-information

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// getAccount3PIDs lists the third-party identifiers associated with the
// user's account.
//
// GET /_matrix/client/v3/account/3pid
//
// Hafen sends no email or SMS and trusts no identity server, so no account
// has a 3PID and the list is always empty (m.3pid_changes is disabled in
// /capabilities accordingly).
func (s *Server) getAccount3PIDs(w http.ResponseWriter, r *http.Request, _ session) error {
	return httpapi.OK(w, map[string]any{"threepids": []any{}})
}

// threePIDTokenRequest is the part of the request_email_validation and
// request_msisdn_validation bodies Hafen reads: only enough to reject a
// body that is no JSON object before refusing the medium.
type threePIDTokenRequest struct {
	ClientSecret string `json:"client_secret"`
	SendAttempt  int    `json:"send_attempt"`
}

// requestTokenTo3PIDEmail would start validating an email address to add
// to the account.
//
// POST /_matrix/client/v3/account/3pid/email/requestToken
//
// Hafen sends no email, so it answers 400 M_THREEPID_MEDIUM_NOT_SUPPORTED,
// the spec's error for a homeserver that does not support adding email
// addresses.
func (s *Server) requestTokenTo3PIDEmail(w http.ResponseWriter, r *http.Request) error {
	var req threePIDTokenRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	return matrixerr.New(matrixerr.KindThreePIDMediumNotSupported, "This server does not support adding email addresses")
}

// requestTokenTo3PIDMSISDN would start validating a phone number to add to
// the account.
//
// POST /_matrix/client/v3/account/3pid/msisdn/requestToken
//
// Hafen sends no SMS, so it answers 400 M_THREEPID_MEDIUM_NOT_SUPPORTED,
// the spec's error for a homeserver that does not support adding phone
// numbers.
func (s *Server) requestTokenTo3PIDMSISDN(w http.ResponseWriter, r *http.Request) error {
	var req threePIDTokenRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	return matrixerr.New(matrixerr.KindThreePIDMediumNotSupported, "This server does not support adding phone numbers")
}
