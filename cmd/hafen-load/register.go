package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3register
// and https://spec.matrix.org/v1.19/client-server-api/#user-interactive-authentication-api

// dummyStage is the UIA stage that needs no input.
const dummyStage = "m.login.dummy"

// maxUIARounds bounds the 401 round trips of one registration.
const maxUIARounds = 3

// errNoDummyFlow is returned when the server offers no UIA flow that the
// m.login.dummy stage alone completes.
var errNoDummyFlow = errors.New("server offers no registration flow made of m.login.dummy only")

// registerResponse is the answer of a successful registration.
type registerResponse struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
}

// uiaResponse is the body of a UIA 401 answer.
type uiaResponse struct {
	Flows []struct {
		Stages []string `json:"stages"`
	} `json:"flows"`
	Completed []string `json:"completed"`
	Session   string   `json:"session"`
}

// registerOpen registers username through open registration: POST /register,
// and on a 401 with UIA flows, the same request again with the m.login.dummy
// stage and the session the server handed out. On success c carries the new
// user's access token.
func registerOpen(ctx context.Context, c *client, username, password string) error {
	in := map[string]any{
		"username":                    username,
		"password":                    password,
		"initial_device_display_name": "hafen-load",
	}
	for round := 0; ; round++ {
		var out registerResponse
		err := c.do(ctx, requestTimeout, http.MethodPost, "/_matrix/client/v3/register", nil, in, &out)
		if err == nil {
			return c.loggedIn(out)
		}
		var me *matrixError
		if !errors.As(err, &me) || me.Status != http.StatusUnauthorized {
			return fmt.Errorf("register %s: %w", username, err)
		}
		if round+1 >= maxUIARounds {
			return fmt.Errorf("register %s: still asked to authenticate after %d rounds: %w", username, maxUIARounds, err)
		}
		var uia uiaResponse
		if err := json.Unmarshal(me.Body, &uia); err != nil || len(uia.Flows) == 0 {
			return fmt.Errorf("register %s: 401 without UIA flows: %w", username, me)
		}
		if !hasDummyFlow(uia) {
			return fmt.Errorf("register %s: %w", username, errNoDummyFlow)
		}
		if slices.Contains(uia.Completed, dummyStage) {
			return fmt.Errorf("register %s: m.login.dummy completed but the server asks for more: %w", username, me)
		}
		in["auth"] = map[string]any{"type": dummyStage, "session": uia.Session}
	}
}

// hasDummyFlow reports whether one of the offered flows consists of
// m.login.dummy stages only.
func hasDummyFlow(uia uiaResponse) bool {
	for _, f := range uia.Flows {
		if len(f.Stages) > 0 && !slices.ContainsFunc(f.Stages, func(s string) bool { return s != dummyStage }) {
			return true
		}
	}
	return false
}

// sharedSecretPath is the shared-secret registration endpoint that Synapse
// introduced and Dendrite and Conduit also serve.
const sharedSecretPath = "/_synapse/admin/v1/register"

// registerSharedSecret registers a non-admin user with the server's
// registration shared secret: GET a nonce, then POST the user with
// HMAC-SHA1(secret, nonce NUL username NUL password NUL "notadmin").
func registerSharedSecret(ctx context.Context, c *client, secret, username, password string) error {
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := c.do(ctx, requestTimeout, http.MethodGet, sharedSecretPath, nil, nil, &nonce); err != nil {
		return fmt.Errorf("get registration nonce: %w", err)
	}
	if nonce.Nonce == "" {
		return errors.New("get registration nonce: answer without nonce")
	}
	in := map[string]any{
		"nonce":    nonce.Nonce,
		"username": username,
		"password": password,
		"admin":    false,
		"mac":      sharedSecretMAC(secret, nonce.Nonce, username, password, false),
	}
	var out registerResponse
	if err := c.do(ctx, requestTimeout, http.MethodPost, sharedSecretPath, nil, in, &out); err != nil {
		return fmt.Errorf("register %s with shared secret: %w", username, err)
	}
	return c.loggedIn(out)
}

// sharedSecretMAC computes the hex HMAC-SHA1 that shared-secret registration
// expects.
func sharedSecretMAC(secret, nonce, username, password string, admin bool) string {
	m := hmac.New(sha1.New, []byte(secret))
	role := "notadmin"
	if admin {
		role = "admin"
	}
	for i, part := range []string{nonce, username, password, role} {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(part))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// loggedIn stores the session of a successful registration in c.
func (c *client) loggedIn(out registerResponse) error {
	if out.AccessToken == "" || out.UserID == "" {
		return errors.New("registration answered without user_id or access_token")
	}
	c.token = out.AccessToken
	c.userID = out.UserID
	return nil
}
