// Spec: Client-Server API § Voice over IP, Server behaviour
// OpenAPI: data/api/client-server/voip.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3voipturnserver

package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/hafenchat/hafen/internal/httpapi"
)

// TURN is the TURN server Hafen hands to clients for voice and video
// calls. Without URIs there is none.
type TURN struct {
	// URIs are the server's turn: and turns: URIs.
	URIs []string
	// SharedSecret, when set, makes short-lived credentials in the
	// scheme coturn calls "TURN REST API" (use-auth-secret): the user
	// name is "<expiry unix time>:<user ID>" and the password the
	// base64 HMAC-SHA1 of the user name under the secret.
	SharedSecret string
	// Username and Password are fixed credentials, used when
	// SharedSecret is empty.
	Username, Password string
	// Lifetime is how long the credentials are valid (the answer's ttl).
	Lifetime time.Duration
}

// turnCredentials is the answer of /voip/turnServer.
type turnCredentials struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	URIs     []string `json:"uris"`
	TTL      int64    `json:"ttl"`
}

// getTurnServer answers the TURN server credentials for calls.
//
// GET /_matrix/client/v3/voip/turnServer
//
// NOTSPEC: with no TURN server configured the answer is an empty object.
// The 200 schema requires username, password, uris and ttl, and the spec
// gives no other way to say "no TURN server"; an empty object is what
// other homeservers answer and what clients (matrix-js-sdk among them)
// read as "none".
func (s *Server) getTurnServer(w http.ResponseWriter, r *http.Request, sess session) error {
	t := s.TURN
	if len(t.URIs) == 0 {
		return httpapi.OK(w, map[string]any{})
	}
	ttl := int64(t.Lifetime / time.Second)
	creds := turnCredentials{Username: t.Username, Password: t.Password, URIs: t.URIs, TTL: ttl}
	if t.SharedSecret != "" {
		creds.Username, creds.Password = turnSecretCredentials(t.SharedSecret, string(sess.UserID), s.now().Add(t.Lifetime))
	}
	return httpapi.OK(w, creds)
}

// turnSecretCredentials returns the user name and password a TURN server
// with the shared secret accepts for user until expiry.
func turnSecretCredentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
