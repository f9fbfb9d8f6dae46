// Spec: Synapse Admin API § Shared-Secret Registration (not part of the Matrix spec)
// https://element-hq.github.io/synapse/latest/admin_api/register_api.html
//
// Tools that bootstrap homeservers (provisioning scripts, bridges' setup,
// mautrix's synapseadmin package) create accounts this way, so Hafen
// speaks it when a shared secret is configured.

package clientapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// nonceTTL is how long a registration nonce stays usable (as in Synapse).
const nonceTTL = time.Minute

// maxNonces bounds the unused nonces kept: past it, handing out a nonce
// forgets the oldest one.
const maxNonces = 1024

// nonceSet holds the unused nonces. The zero value is ready. Nonces are
// kept in the order they were made, so expiring them costs O(1) per nonce
// instead of a sweep of the whole set.
type nonceSet struct {
	mu     sync.Mutex
	nonces map[string]time.Time
	// order holds the nonces oldest first, including ones already taken
	// (which the map no longer has); head is the index of the oldest.
	order []string
	head  int
}

// add creates a nonce.
func (n *nonceSet) add(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nonces == nil {
		n.nonces = map[string]time.Time{}
	}
	// Drop expired and taken nonces from the front, and the oldest live
	// ones while the set is full.
	for n.head < len(n.order) {
		old := n.order[n.head]
		t, live := n.nonces[old]
		if live && now.Sub(t) <= nonceTTL && len(n.nonces) < maxNonces {
			break
		}
		delete(n.nonces, old)
		n.order[n.head] = ""
		n.head++
	}
	if n.head > len(n.order)/2 {
		// Reuse the drained front of the slice.
		n.order = append(n.order[:0], n.order[n.head:]...)
		n.head = 0
	}
	n.nonces[nonce] = now
	n.order = append(n.order, nonce)
	return nonce
}

// take uses up a nonce, reporting whether it was valid.
func (n *nonceSet) take(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.nonces[nonce]
	delete(n.nonces, nonce)
	return ok && now.Sub(t) <= nonceTTL
}

// len returns the number of nonces kept.
func (n *nonceSet) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.nonces)
}

// getRegisterNonce hands out a one-time nonce.
//
// GET /_synapse/admin/v1/register
//
// It needs no access token, so it is rate-limited per client address like
// registration.
func (s *Server) getRegisterNonce(w http.ResponseWriter, r *http.Request) error {
	if err := s.Limiter.Check(ActionRegister, httpapi.ClientIP(r)); err != nil {
		return err
	}
	return httpapi.OK(w, map[string]string{"nonce": s.nonces.add(s.now())})
}

// sharedSecretRegisterRequest is the body of POST /_synapse/admin/v1/register.
type sharedSecretRegisterRequest struct {
	Nonce        string   `json:"nonce"`
	Username     string   `json:"username"`
	DisplayName  string   `json:"displayname"`
	Password     Password `json:"password"`
	Admin        bool     `json:"admin"`
	UserType     string   `json:"user_type"`
	InhibitLogin bool     `json:"inhibit_login"`
	MAC          string   `json:"mac"`
}

// sharedSecretRegister creates an account authenticated by the shared
// secret.
//
// POST /_synapse/admin/v1/register
//
// The MAC is the hex HMAC-SHA1, keyed with the shared secret, of
// nonce NUL username NUL password NUL ("admin" | "notadmin"), followed by
// NUL user_type when a non-empty user type is given.
//
// TODO(#profile): store displayname once profiles exist; user_type is
// checked in the MAC but not stored.
func (s *Server) sharedSecretRegister(w http.ResponseWriter, r *http.Request) error {
	if err := s.Limiter.Check(ActionRegister, httpapi.ClientIP(r)); err != nil {
		return err
	}
	var req sharedSecretRegisterRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Nonce == "" || req.MAC == "" || req.Username == "" || req.Password == "" {
		return matrixerr.MissingParam("nonce, username, password and mac are required")
	}
	if !s.nonces.take(req.Nonce, s.now()) {
		return matrixerr.Unknown("unrecognised nonce")
	}
	want := registrationMAC(s.Registration.SharedSecret, req)
	got, err := hex.DecodeString(req.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return matrixerr.Forbidden("HMAC incorrect")
	}
	userID, err := s.availableUserID(r.Context(), req.Username)
	if err != nil {
		return err
	}
	hash, err := HashPassword(req.Password, s.BcryptCost)
	if err != nil {
		return err
	}
	if err := s.createUser(r.Context(), userID, hash, req.Admin); err != nil {
		return err
	}
	httpapi.Logger(r).Info("user registered with the shared secret", "user_id", userID, "admin", req.Admin)
	resp := loginResponse{UserID: userID, HomeServer: s.ServerName}
	if !req.InhibitLogin {
		tok, dev, err := s.issueToken(r.Context(), userID, "", "")
		if err != nil {
			return err
		}
		resp.AccessToken, resp.DeviceID = string(tok), dev
	}
	return httpapi.OK(w, resp)
}

// registrationMAC computes the MAC Synapse's shared-secret registration
// expects.
func registrationMAC(secret string, req sharedSecretRegisterRequest) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(req.Nonce))
	m.Write([]byte{0})
	m.Write([]byte(req.Username))
	m.Write([]byte{0})
	m.Write([]byte(req.Password))
	m.Write([]byte{0})
	if req.Admin {
		m.Write([]byte("admin"))
	} else {
		m.Write([]byte("notadmin"))
	}
	if req.UserType != "" {
		m.Write([]byte{0})
		m.Write([]byte(req.UserType))
	}
	return m.Sum(nil)
}
