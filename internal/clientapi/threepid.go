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

// add3PIDRequest is the body of /account/3pid/add.
type add3PIDRequest struct {
	ClientSecret string `json:"client_secret"`
	SID          string `json:"sid"`
}

// add3PID would add a validated 3PID to the account.
//
// POST /_matrix/client/v3/account/3pid/add
//
// m.3pid_changes is disabled (no session can ever be validated, since
// Hafen sends no email or SMS), so after checking the body Hafen answers
// 403 M_FORBIDDEN, as Synapse does with 3PID changes disabled.
func (s *Server) add3PID(w http.ResponseWriter, r *http.Request, _ session) error {
	var req add3PIDRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ClientSecret == "" {
		return matrixerr.MissingParam("client_secret")
	}
	if req.SID == "" {
		return matrixerr.MissingParam("sid")
	}
	return matrixerr.Forbidden("3PID changes are disabled on this server")
}

// bind3PIDRequest is the body of /account/3pid/bind.
type bind3PIDRequest struct {
	ClientSecret  string `json:"client_secret"`
	IDServer      string `json:"id_server"`
	IDAccessToken string `json:"id_access_token"`
	SID           string `json:"sid"`
}

// bind3PID would bind a 3PID to the account through an identity server.
//
// POST /_matrix/client/v3/account/3pid/bind
//
// Hafen trusts no identity server, so after checking the body it answers
// 400 M_SERVER_NOT_TRUSTED, the spec's error for a request naming a
// third-party server this server does not trust.
func (s *Server) bind3PID(w http.ResponseWriter, r *http.Request, _ session) error {
	var req bind3PIDRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{
		{"client_secret", req.ClientSecret}, {"id_server", req.IDServer}, {"id_access_token", req.IDAccessToken}, {"sid", req.SID},
	} {
		if f.value == "" {
			return matrixerr.MissingParam(f.name)
		}
	}
	return matrixerr.New(matrixerr.KindServerNotTrusted, "this server trusts no identity server")
}

// remove3PIDRequest is the body of /account/3pid/delete and
// /account/3pid/unbind.
type remove3PIDRequest struct {
	IDServer string `json:"id_server"`
	Medium   string `json:"medium"`
	Address  string `json:"address"`
}

// decode reads and checks a remove3PIDRequest.
func (req *remove3PIDRequest) decode(w http.ResponseWriter, r *http.Request) error {
	if err := httpapi.DecodeJSON(w, r, req); err != nil {
		return err
	}
	if req.Medium == "" {
		return matrixerr.MissingParam("medium")
	}
	if req.Medium != "email" && req.Medium != "msisdn" {
		return matrixerr.InvalidParam("medium must be email or msisdn")
	}
	if req.Address == "" {
		return matrixerr.MissingParam("address")
	}
	return nil
}

// delete3PIDFromAccount would remove a 3PID from the account.
//
// POST /_matrix/client/v3/account/3pid/delete
//
// m.3pid_changes is disabled, so after checking the body Hafen answers
// 403 M_FORBIDDEN, as for adding one.
func (s *Server) delete3PIDFromAccount(w http.ResponseWriter, r *http.Request, _ session) error {
	var req remove3PIDRequest
	if err := req.decode(w, r); err != nil {
		return err
	}
	return matrixerr.Forbidden("3PID changes are disabled on this server")
}

// unbind3PIDFromAccount removes a 3PID from an identity server.
//
// POST /_matrix/client/v3/account/3pid/unbind
//
// No 3PID was ever bound through Hafen, so it knows no identity server to
// unbind from and answers id_server_unbind_result "no-support", as the
// spec asks of a homeserver that does not know the original id_server.
func (s *Server) unbind3PIDFromAccount(w http.ResponseWriter, r *http.Request, _ session) error {
	var req remove3PIDRequest
	if err := req.decode(w, r); err != nil {
		return err
	}
	return httpapi.OK(w, map[string]string{"id_server_unbind_result": "no-support"})
}
