package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Password is a password in clear, as a client sent it. It never reaches a
// log: LogValue and String redact it.
type Password string

// LogValue redacts the password.
func (Password) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String redacts the password.
func (Password) String() string { return "REDACTED" }

// maxPasswordBytes is bcrypt's input limit; longer passwords are refused
// rather than silently truncated.
const maxPasswordBytes = 72

// HashPassword returns the bcrypt hash of p at the given cost (0 means
// bcrypt.DefaultCost). Passwords longer than 72 bytes are refused with
// M_INVALID_PARAM, empty ones with M_MISSING_PARAM.
func HashPassword(p Password, cost int) (string, error) {
	if p == "" {
		return "", matrixerr.MissingParam("password")
	}
	if len(p) > maxPasswordBytes {
		return "", matrixerr.InvalidParam("the password is longer than %d bytes", maxPasswordBytes)
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(p), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when a user does not exist, so that a
// login for an unknown user takes as long as one with a wrong password.
const dummyHash = "$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z2p2Ry.dn6W/f8FSDm0rM9Lm"

// checkPassword verifies p against hash in constant time (relative to the
// hash cost). An empty hash (no password set) never matches.
func checkPassword(hash string, p Password) bool {
	if hash == "" || len(p) > maxPasswordBytes {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte("x"))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(p)) == nil
}

// newAccessToken returns a fresh access token: 32 random bytes, so that a
// fast unsalted hash (the store keeps SHA-256) is safe.
func newAccessToken() httpapi.AccessToken {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return httpapi.AccessToken("hft_" + base64.RawURLEncoding.EncodeToString(b[:]))
}

// newDeviceID returns a device ID of ten capital letters, the form most
// homeservers use.
func newDeviceID() id.DeviceID {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [10]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return id.DeviceID(b[:])
}

// session is the authenticated identity of a request.
type session struct {
	UserID   id.UserID
	DeviceID id.DeviceID
}

// authed wraps a handler that needs an access token: it resolves the token
// and passes the session on. Missing token → 401 M_MISSING_TOKEN, unknown
// token → 401 M_UNKNOWN_TOKEN.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, sess session) error) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.authenticate(r)
		if err != nil {
			return err
		}
		httpapi.SetUser(r, string(sess.UserID), string(sess.DeviceID))
		if err := s.Store.DeviceSeen(r.Context(), sess.UserID, sess.DeviceID, httpapi.ClientIP(r)); err != nil {
			// The request goes on: a session list a little out of date
			// is no reason to refuse it.
			httpapi.Logger(r).Warn("could not record the device as seen", "err", err)
		}
		return h(w, r, sess)
	}
}

// authenticate resolves the access token of r.
func (s *Server) authenticate(r *http.Request) (session, error) {
	tok, err := httpapi.AccessTokenOf(r)
	if err != nil {
		return session{}, err
	}
	userID, deviceID, err := s.Store.AccessTokenOwner(r.Context(), string(tok))
	if isNotFound(err) {
		return session{}, matrixerr.UnknownToken("unknown access token", false)
	}
	if errors.Is(err, account.ErrTokenExpired) {
		// soft_logout: the client refreshes the token and carries on.
		return session{}, matrixerr.UnknownToken("the access token has expired", true)
	}
	if err != nil {
		return session{}, fmt.Errorf("look up access token: %w", err)
	}
	return session{UserID: userID, DeviceID: deviceID}, nil
}

// issueToken creates (or reuses) a device and gives it a new access token.
func (s *Server) issueToken(ctx context.Context, userID id.UserID, deviceID id.DeviceID, displayName string) (httpapi.AccessToken, id.DeviceID, error) {
	if deviceID == "" {
		deviceID = newDeviceID()
	}
	if _, err := s.Store.CreateDevice(ctx, userID, deviceID, displayName); err != nil {
		return "", "", fmt.Errorf("create device: %w", err)
	}
	tok := newAccessToken()
	if err := s.Store.CreateAccessToken(ctx, string(tok), userID, deviceID); err != nil {
		return "", "", fmt.Errorf("create access token: %w", err)
	}
	return tok, deviceID, nil
}

// localUserID turns what a client typed (a full user ID or a localpart)
// into a local user ID. It fails with M_FORBIDDEN for other servers' users
// and M_INVALID_USERNAME for malformed input. Localparts are lowercased:
// Hafen only creates lowercase ones.
func (s *Server) localUserID(input string) (id.UserID, error) {
	local := input
	if strings.HasPrefix(input, "@") {
		l, domain, ok := strings.Cut(input[1:], ":")
		if !ok {
			return "", matrixerr.InvalidUsername("the user ID has no server name")
		}
		if id.ServerName(domain) != s.ServerName {
			return "", matrixerr.Forbidden("the user is not local to this server")
		}
		local = l
	}
	local = strings.ToLower(local)
	if err := s.checkLocalpart(local); err != nil {
		return "", err
	}
	return id.UserID("@" + local + ":" + string(s.ServerName)), nil
}

// checkLocalpart applies the user ID grammar to a localpart of a new or
// local user: a–z, 0–9 and "._=-/+", with the whole ID at most 255 bytes.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#user-identifiers
func (s *Server) checkLocalpart(local string) error {
	if local == "" {
		return matrixerr.InvalidUsername("the username is empty")
	}
	if len("@"+local+":"+string(s.ServerName)) > id.MaxLength {
		return matrixerr.InvalidUsername("the user ID would be longer than 255 bytes")
	}
	if !id.ValidLocalpart(local) {
		return matrixerr.InvalidUsername("a username may only contain a-z, 0-9 and ._=-/+")
	}
	return nil
}

// requireAdmin fails with 403 M_FORBIDDEN unless user is a server
// administrator; the admin APIs call it for every request.
func (s *Server) requireAdmin(ctx context.Context, user id.UserID) error {
	if err := s.Store.CheckAdmin(ctx, user); err != nil {
		if errors.Is(err, account.ErrNotAdmin) {
			return matrixerr.Wrap(matrixerr.KindForbidden, err, "you are not a server administrator")
		}
		return err
	}
	return nil
}
