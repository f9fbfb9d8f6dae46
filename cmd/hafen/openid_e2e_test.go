package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/hafenchat/hafen/internal/federation"
)

// TestOpenIDEndToEnd follows Client-Server API § OpenID and Server-Server
// API § OpenID: a user asks their server for an OpenID token (through a
// client SDK), and a third party, with no signature, exchanges it at the
// server's federation listener for the user's ID; an unknown token is
// 401 M_UNKNOWN_TOKEN, nobody gets a token for someone else, and
// deactivating the account revokes its tokens.
func TestOpenIDEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			third := newFedPeer(t, startFedServer(t))
			alice := register(t, a.base, "alice")
			bob := register(t, a.base, "bob")
			tok, err := alice.RequestOpenIDToken(context.Background())
			if err != nil {
				t.Fatalf("request OpenID token: %v", err)
			}
			if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.MatrixServerName != string(a.name) || tok.ExpiresIn <= 0 {
				t.Fatalf("OpenID token = %+v", tok)
			}
			userinfo := func(token string) (int, string, string) {
				t.Helper()
				raw, err := third.client.Do(context.Background(), federation.Request{Destination: a.name, Method: http.MethodGet,
					Path: "/_matrix/federation/v1/openid/userinfo?access_token=" + url.QueryEscape(token), Unsigned: true})
				if err != nil {
					st, code := httpStatus(err)
					return st, code, ""
				}
				var info struct {
					Sub string `json:"sub"`
				}
				json.Unmarshal(raw, &info)
				return 200, "", info.Sub
			}
			if st, code, sub := userinfo(tok.AccessToken); st != 200 || sub != alice.UserID.String() {
				t.Errorf("userinfo = %d %s %q, want %s", st, code, sub, alice.UserID)
			}
			if st, code, _ := userinfo("not-a-token"); st != 401 || code != "M_UNKNOWN_TOKEN" {
				t.Errorf("userinfo of an unknown token = %d %s, want 401 M_UNKNOWN_TOKEN", st, code)
			}
			if st, code, _ := userinfo(alice.AccessToken); st != 401 || code != "M_UNKNOWN_TOKEN" {
				t.Errorf("userinfo of an access token = %d %s, want 401 M_UNKNOWN_TOKEN", st, code)
			}
			if st := csCall(t, a.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID.String())+"/openid/request_token", map[string]any{}, nil); st != 403 {
				t.Errorf("bob asking for alice's OpenID token = %d, want 403", st)
			}
			deactivate := map[string]any{"auth": map[string]any{
				"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "correct horse alice",
			}}
			if st := csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/account/deactivate", deactivate, nil); st != 200 {
				t.Fatalf("deactivate alice = %d, want 200", st)
			}
			if st, code, sub := userinfo(tok.AccessToken); st != 401 || code != "M_UNKNOWN_TOKEN" {
				t.Errorf("userinfo after deactivation = %d %s %q, want 401 M_UNKNOWN_TOKEN", st, code, sub)
			}
		})
	}
}
