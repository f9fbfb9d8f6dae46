// Spec: Client-Server API § Account registration
// OpenAPI: data/api/client-server/registration.yaml, data/api/client-server/registration_tokens.yaml
// https://spec.matrix.org/v1.19/client-server-api/#legacy-account-registration

package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// registerRequest is the body of POST /register.
type registerRequest struct {
	Auth                     json.RawMessage `json:"auth"`
	Username                 string          `json:"username"`
	Password                 Password        `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	InhibitLogin             bool            `json:"inhibit_login"`
	RefreshToken             bool            `json:"refresh_token"`
}

// loginResponse is the body of a successful login or registration.
type loginResponse struct {
	UserID      id.UserID   `json:"user_id"`
	AccessToken string      `json:"access_token,omitempty"`
	DeviceID    id.DeviceID `json:"device_id,omitempty"`
	// HomeServer is deprecated but still in the schema of both responses;
	// older clients and bots read it, so Hafen keeps sending it.
	HomeServer id.ServerName  `json:"home_server"`
	WellKnown  map[string]any `json:"well_known,omitempty"`
	// RefreshToken and ExpiresInMS come with an access token that expires
	// (spec v1.3), when the client asked for a refresh token.
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresInMS  int64  `json:"expires_in_ms,omitempty"`
}

// registrationFlows are the UIA flows of /register under the policy.
func (s *Server) registrationFlows() [][]string {
	if s.Registration.RequireToken {
		return [][]string{{stageRegistrationToken}}
	}
	return [][]string{{stageDummy}}
}

// register creates an account.
//
// POST /_matrix/client/v3/register
//
// Only kind=user is supported: guest accounts are refused with
// M_GUEST_ACCESS_FORBIDDEN. The username checks (M_INVALID_USERNAME,
// M_USER_IN_USE) run before User-Interactive Authentication, as the spec
// requires, and again when the account is created.
func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	switch kind := r.URL.Query().Get("kind"); kind {
	case "", "user":
	case "guest":
		return matrixerr.GuestAccessForbidden("guest accounts are not supported")
	default:
		return matrixerr.InvalidParam("unknown kind %q", kind)
	}
	if !s.Registration.Enabled {
		return matrixerr.Forbidden("registration is disabled")
	}
	if err := s.Limiter.Check(ActionRegister, httpapi.ClientIP(r)); err != nil {
		return err
	}
	var req registerRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkDeviceDisplayName(req.InitialDeviceDisplayName); err != nil {
		return err
	}
	if isAppserviceAuth(req.Auth) {
		return matrixerr.Forbidden("application services are not supported")
	}

	var userID id.UserID
	if req.Username != "" {
		var err error
		if userID, err = s.availableUserID(r.Context(), req.Username); err != nil {
			return err
		}
	}
	if len(req.Password) > maxPasswordBytes {
		return matrixerr.InvalidParam("the password is longer than %d bytes", maxPasswordBytes)
	}
	deviceID, err := optionalDeviceID(req.DeviceID)
	if err != nil {
		return err
	}

	// Without a password the registration cannot finish: say so before
	// an authentication step is spent on it, so the client can retry in
	// the same session.
	// (Without auth the answer is the challenge, whatever the body.)
	if req.Password == "" && httpapi.Given(req.Auth) {
		return matrixerr.MissingParam("password")
	}
	res, err := s.checkUIA(r, uiaRequest{flows: s.registrationFlows(), auth: req.Auth})
	if err != nil {
		return err
	}

	if userID == "" {
		if userID, err = s.generateUserID(r.Context()); err != nil {
			return err
		}
	}
	hash, err := HashPassword(req.Password, s.BcryptCost)
	if err != nil {
		return err
	}
	if res.regToken != "" {
		if err := s.Store.UseRegistrationToken(r.Context(), res.regToken, s.now()); err != nil {
			if isNotFound(err) {
				return matrixerr.Unauthorized("the registration token is no longer valid")
			}
			return fmt.Errorf("use registration token: %w", err)
		}
	}
	if err := s.createUser(r.Context(), userID, hash, false); err != nil {
		return err
	}
	httpapi.Logger(r).Info("user registered", "user_id", userID)

	resp := loginResponse{UserID: userID, HomeServer: s.ServerName}
	if !req.InhibitLogin {
		if err := s.issueLogin(r.Context(), &resp, userID, deviceID, req.InitialDeviceDisplayName, req.RefreshToken); err != nil {
			return err
		}
	}
	return httpapi.OK(w, resp)
}

// isAppserviceAuth reports whether the auth object is of the appservice
// type, which needs an application service Hafen does not have.
func isAppserviceAuth(raw json.RawMessage) bool {
	var a struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &a)
	return a.Type == "m.login.application_service"
}

// createUser creates the account, mapping a lost race to M_USER_IN_USE.
func (s *Server) createUser(ctx context.Context, userID id.UserID, hash string, admin bool) error {
	err := s.Store.CreateUser(ctx, userID, hash, admin)
	if errors.Is(err, ErrUserExists) {
		return matrixerr.UserInUse("the user ID is already taken")
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// availableUserID maps a requested username to a local user ID and checks
// that it is free. Usernames are lowercased (a logical mapping the spec
// allows); anything outside the grammar is refused.
func (s *Server) availableUserID(ctx context.Context, username string) (id.UserID, error) {
	if strings.HasPrefix(username, "@") {
		return "", matrixerr.InvalidUsername("the username must be a localpart, not a user ID")
	}
	userID, err := s.localUserID(username)
	if err != nil {
		return "", err
	}
	exists, err := s.Store.UserExists(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("check user: %w", err)
	}
	if exists {
		return "", matrixerr.UserInUse("the user ID is already taken")
	}
	return userID, nil
}

// generateUserID picks a free random localpart for a registration without
// username.
func (s *Server) generateUserID(ctx context.Context) (id.UserID, error) {
	for range 5 {
		local := "u" + strings.ToLower(rand.Text()[:12])
		userID, err := s.availableUserID(ctx, local)
		if err == nil {
			return userID, nil
		}
		var me *matrixerr.Error
		if !errors.As(err, &me) || me.Kind != matrixerr.KindUserInUse {
			return "", err
		}
	}
	return "", errors.New("generate user ID: no free localpart found")
}

// checkUsernameAvailability tells whether a username can be registered.
//
// GET /_matrix/client/v3/register/available
func (s *Server) checkUsernameAvailability(w http.ResponseWriter, r *http.Request) error {
	if err := s.Limiter.Check(ActionRegister, httpapi.ClientIP(r)); err != nil {
		return err
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		return matrixerr.MissingParam("username")
	}
	if _, err := s.availableUserID(r.Context(), username); err != nil {
		return err
	}
	return httpapi.OK(w, map[string]bool{"available": true})
}

// registrationTokenValidity tells whether a registration token can be used.
//
// GET /_matrix/client/v1/register/m.login.registration_token/validity
func (s *Server) registrationTokenValidity(w http.ResponseWriter, r *http.Request) error {
	if !s.Registration.Enabled {
		return matrixerr.Forbidden("registration is disabled")
	}
	if err := s.Limiter.Check(ActionRegister, httpapi.ClientIP(r)); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		return matrixerr.MissingParam("token")
	}
	valid := false
	if len(token) <= 64 {
		ok, err := s.Store.RegistrationTokenValid(r.Context(), token, s.now())
		if err != nil {
			return fmt.Errorf("check registration token: %w", err)
		}
		valid = ok
	}
	return httpapi.OK(w, map[string]bool{"valid": valid})
}
