// Spec: Client-Server API § Account management (password management, account deactivation)
// OpenAPI: data/api/client-server/password_management.yaml, data/api/client-server/account_deactivation.yaml
// https://spec.matrix.org/v1.19/client-server-api/#legacy-account-management

package clientapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// passwordFlows are the UIA flows of the endpoints that need the user's
// password.
var passwordFlows = [][]string{{stagePassword}}

// changePasswordRequest is the body of POST /account/password.
type changePasswordRequest struct {
	Auth          json.RawMessage `json:"auth"`
	NewPassword   Password        `json:"new_password"`
	LogoutDevices *bool           `json:"logout_devices"`
}

// changePassword sets a new password after checking the current one.
//
// POST /_matrix/client/v3/account/password
//
// An access token is required: without one the spec's flows are the
// e-mail and phone resets, which Hafen does not offer. The token used keeps
// working; with logout_devices (default true) every other device is
// removed.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, sess session) error {
	var req changePasswordRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.NewPassword == "" {
		return matrixerr.MissingParam("new_password")
	}
	if len(req.NewPassword) > maxPasswordBytes {
		return matrixerr.InvalidParam("the password is longer than %d bytes", maxPasswordBytes)
	}
	if _, err := s.checkUIA(r, uiaRequest{flows: passwordFlows, userID: sess.UserID, auth: req.Auth}); err != nil {
		return err
	}
	hash, err := HashPassword(req.NewPassword, s.BcryptCost)
	if err != nil {
		return err
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := s.Store.SetPassword(r.Context(), sess.UserID, hash, logout, sess.DeviceID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	httpapi.Logger(r).Info("password changed")
	return httpapi.OK(w, struct{}{})
}

// deactivateRequest is the body of POST /account/deactivate.
type deactivateRequest struct {
	Auth     json.RawMessage `json:"auth"`
	IDServer string          `json:"id_server"`
	Erase    bool            `json:"erase"`
}

// deactivateAccount deactivates the user's account for good.
//
// POST /_matrix/client/v3/account/deactivate
//
// The user leaves every room, rejects their pending invites and retracts
// their knocks; with erase, their profile and other non-event data are
// removed (see room.Service.Deactivate for what that covers). Then the
// account's devices and tokens are removed and it can no longer log in; its
// user ID is never given out again. Hafen binds no 3PIDs, so the unbind
// result is "success", as the spec requires in that case.
func (s *Server) deactivateAccount(w http.ResponseWriter, r *http.Request, sess session) error {
	var req deactivateRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if _, err := s.checkUIA(r, uiaRequest{flows: passwordFlows, userID: sess.UserID, auth: req.Auth}); err != nil {
		return err
	}
	// The rooms are left before the account goes, so that a failure leaves
	// an account that can try again, and once more after it, for a join
	// that raced in from another of the user's devices.
	if err := s.deactivateInRooms(r.Context(), sess.UserID, req.Erase); err != nil {
		return err
	}
	if err := s.Store.DeactivateUser(r.Context(), sess.UserID); err != nil {
		return fmt.Errorf("deactivate user: %w", err)
	}
	if err := s.deactivateInRooms(r.Context(), sess.UserID, false); err != nil {
		return err
	}
	httpapi.Logger(r).Info("account deactivated")
	return httpapi.OK(w, map[string]string{"id_server_unbind_result": "success"})
}

// deactivateInRooms runs the room side of a deactivation, when this server
// serves rooms.
func (s *Server) deactivateInRooms(ctx context.Context, user id.UserID, erase bool) error {
	if s.Rooms == nil {
		return nil
	}
	if err := s.Rooms.Service.Deactivate(ctx, user, erase); err != nil {
		return fmt.Errorf("deactivate %s in rooms: %w", user, err)
	}
	return nil
}
