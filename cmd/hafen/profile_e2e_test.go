package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestProfilePropagationEndToEnd: hafen serve runs the profile worker, so
// a new display name reaches the join events of every room the user is
// in, without any further request.
func TestProfilePropagationEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			rooms := []string{string(createPublicRoom(t, a.base, tok)), string(createPublicRoom(t, a.base, tok))}
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID.String())+"/displayname",
				map[string]any{"displayname": "Alice Everywhere"}, &struct{}{})
			for _, roomID := range rooms {
				deadline := time.Now().Add(30 * time.Second)
				for {
					var member struct {
						DisplayName string `json:"displayname"`
					}
					csCall(t, a.base, tok, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(alice.UserID.String()), nil, &member)
					if member.DisplayName == "Alice Everywhere" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the join event in %s never carried the new name: %+v", roomID, member)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}
