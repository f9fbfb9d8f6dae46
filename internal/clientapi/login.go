// Spec: Client-Server API § Login
// OpenAPI: data/api/client-server/login.yaml, data/api/client-server/logout.yaml
// https://spec.matrix.org/v1.19/client-server-api/#legacy-login

package clientapi

import (
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// loginRequest is the body of POST /login.
type loginRequest struct {
	Type       string     `json:"type"`
	Identifier identifier `json:"identifier"`
	// User, Medium and Address are the deprecated forms of Identifier.
	User                     string   `json:"user"`
	Medium                   string   `json:"medium"`
	Address                  string   `json:"address"`
	Password                 Password `json:"password"`
	Token                    string   `json:"token"`
	DeviceID                 string   `json:"device_id"`
	InitialDeviceDisplayName string   `json:"initial_device_display_name"`
	RefreshToken             bool     `json:"refresh_token"`
}

// getLoginFlows lists the login types Hafen supports.
//
// GET /_matrix/client/v3/login
func (s *Server) getLoginFlows(w http.ResponseWriter, r *http.Request) error {
	flows := []map[string]any{{"type": stagePassword}}
	if s.loginTokensEnabled() {
		flows = append(flows, map[string]any{"type": stageToken, "get_login_token": true})
	}
	return httpapi.OK(w, map[string]any{"flows": flows})
}

// login exchanges a password or a login token for an access token.
//
// POST /_matrix/client/v3/login
//
// m.login.password with an m.id.user identifier (or the deprecated "user"
// field) and m.login.token are supported; m.login.application_service is
// always refused with 401, as no application service is registered. A
// client that asks for a refresh token gets one only while
// access_token_lifetime_seconds is set; otherwise its access token does
// not expire, which the spec allows.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := s.Limiter.Check(ActionLogin, httpapi.ClientIP(r)); err != nil {
		return err
	}
	var req loginRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkDeviceDisplayName(req.InitialDeviceDisplayName); err != nil {
		return err
	}
	switch req.Type {
	case stagePassword:
	case stageToken:
		deviceID, err := optionalDeviceID(req.DeviceID)
		if err != nil {
			return err
		}
		userID, err := s.loginWithToken(r, req.Token)
		if err != nil {
			return err
		}
		return s.completeLogin(w, r, userID, deviceID, req.InitialDeviceDisplayName, req.RefreshToken)
	case "":
		return matrixerr.MissingParam("type")
	case "m.login.application_service":
		return applicationServiceLogin(r)
	default:
		return matrixerr.Unknown("unsupported login type " + req.Type)
	}

	var who string
	switch req.Identifier.Type {
	case "m.id.user":
		who = req.Identifier.User
	case "":
		if req.Medium != "" || req.Address != "" {
			return matrixerr.Forbidden("unknown third-party identifier")
		}
		who = req.User
	case "m.id.thirdparty", "m.id.phone":
		// Hafen stores no 3PIDs, so none is known: the spec's 403.
		return matrixerr.Forbidden("unknown third-party identifier")
	default:
		return matrixerr.Unknown("unsupported identifier type " + req.Identifier.Type)
	}
	if who == "" {
		return matrixerr.MissingParam("identifier.user")
	}
	deviceID, err := optionalDeviceID(req.DeviceID)
	if err != nil {
		return err
	}

	userID, err := s.localUserID(who)
	if err != nil {
		// Do not tell a malformed name from a wrong password, but still
		// spend the time of a password check.
		checkPassword("", req.Password)
		return matrixerr.Forbidden("invalid username or password")
	}
	// Failed attempts are limited per account too, wherever they come
	// from, so guessing one account's password from many addresses stops
	// early; while the account's budget is spent even the right password
	// waits.
	if blocked, wait := s.Limiter.Blocked(ActionFailedLogin, string(userID)); blocked {
		return matrixerr.LimitExceeded(wait)
	}
	hash, deactivated, err := s.Store.UserPassword(r.Context(), userID)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("load password: %w", err)
	}
	if !checkPassword(hash, req.Password) {
		s.Limiter.Allow(ActionFailedLogin, string(userID))
		return matrixerr.Forbidden("invalid username or password")
	}
	if deactivated {
		return matrixerr.UserDeactivated("the account is deactivated")
	}

	return s.completeLogin(w, r, userID, deviceID, req.InitialDeviceDisplayName, req.RefreshToken)
}

// applicationServiceLogin answers a login of type
// m.login.application_service. Hafen registers no application services,
// so no access token is an as_token: as the Application Service API
// requires for a login without a valid one, the answer is 401
// M_MISSING_TOKEN without an access token and 401 M_UNKNOWN_TOKEN with
// one.
//
// Spec: https://spec.matrix.org/v1.19/application-service-api/#server-admin-style-permissions
func applicationServiceLogin(r *http.Request) error {
	if _, err := httpapi.AccessTokenOf(r); err != nil {
		return err
	}
	return matrixerr.UnknownToken("the access token is not an application service's", false)
}

// completeLogin gives the user's device an access token and answers the
// login.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, userID id.UserID, deviceID id.DeviceID, displayName string, wantRefresh bool) error {
	// A device may not take the ID of one of the user's cross-signing
	// keys (login.yaml: 403 M_FORBIDDEN).
	if deviceID != "" && s.Keys != nil {
		taken, err := s.Keys.IsCrossSigningKeyID(r.Context(), userID, string(deviceID))
		if err != nil {
			return err
		}
		if taken {
			return matrixerr.Forbidden("the device ID is the ID of one of your cross-signing keys")
		}
	}
	// Reusing a device ID keeps the device and replaces its tokens, as the
	// spec requires ("the server will invalidate any access and refresh
	// tokens previously assigned to that device").
	resp := loginResponse{UserID: userID, HomeServer: s.ServerName}
	if err := s.issueLogin(r.Context(), &resp, userID, deviceID, displayName, wantRefresh); err != nil {
		return err
	}
	httpapi.Logger(r).Info("user logged in", "user_id", userID, "device_id", resp.DeviceID)
	if s.PublicBaseURL != "" {
		resp.WellKnown = map[string]any{"m.homeserver": map[string]string{"base_url": s.baseURL(r)}}
	}
	return httpapi.OK(w, resp)
}

// logout deletes the device of the access token (and so the token).
//
// POST /_matrix/client/v3/logout
//
// The spec lets clients send no body here, so none is read.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.Store.DeleteDevices(r.Context(), sess.UserID, []id.DeviceID{sess.DeviceID}); err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	return httpapi.OK(w, struct{}{})
}

// logoutAll deletes every device (and access token) of the user.
//
// POST /_matrix/client/v3/logout/all
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.Store.DeleteDevicesExcept(r.Context(), sess.UserID, ""); err != nil {
		return fmt.Errorf("delete devices: %w", err)
	}
	return httpapi.OK(w, struct{}{})
}
