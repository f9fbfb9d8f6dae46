package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// waitPresence waits until the user's presence, as seen by the token's
// user on base (GET /presence), is state with the status message.
func waitPresence(t *testing.T, base, token string, user id.UserID, state, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got struct {
		Presence  string `json:"presence"`
		StatusMsg string `json:"status_msg"`
	}
	for {
		got.Presence, got.StatusMsg = "", ""
		csCall(t, base, token, http.MethodGet, "/_matrix/client/v3/presence/"+url.PathEscape(string(user))+"/status", nil, &got)
		if got.Presence == state && got.StatusMsg == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's presence on %s = %+v, never %s %q", user, base, got, state, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFederationPresenceEndToEnd follows Server-Server API § Presence:
// with presence on, a local user's presence reaches the servers that
// share a room with them as m.presence EDUs, in both directions, and
// reaches sync there.
func TestFederationPresenceEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})

			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/presence/"+url.PathEscape(string(alice.UserID))+"/status",
				map[string]any{"presence": "online", "status_msg": "sailing"}, &struct{}{})
			waitPresence(t, b.base, bob.AccessToken, id.UserID(alice.UserID), "online", "sailing")

			// Bob's presence reaches A, and alice's sync there.
			csCall(t, b.base, bob.AccessToken, http.MethodPut, "/_matrix/client/v3/presence/"+url.PathEscape(string(bob.UserID))+"/status",
				map[string]any{"presence": "unavailable", "status_msg": "ashore"}, &struct{}{})
			waitPresence(t, a.base, alice.AccessToken, id.UserID(bob.UserID), "unavailable", "ashore")
			var s struct {
				Presence struct {
					Events []struct {
						Sender  id.UserID `json:"sender"`
						Content struct {
							Presence string `json:"presence"`
						} `json:"content"`
					} `json:"events"`
				} `json:"presence"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodGet, "/_matrix/client/v3/sync", nil, &s)
			found := false
			for _, ev := range s.Presence.Events {
				if ev.Sender == id.UserID(bob.UserID) && ev.Content.Presence == "unavailable" {
					found = true
				}
			}
			if !found {
				t.Errorf("alice's sync on A has no presence of bob: %+v", s.Presence.Events)
			}
		})
	}
}
