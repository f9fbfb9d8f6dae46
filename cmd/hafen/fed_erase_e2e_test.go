package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/core/id"
)

// deactivateErasing deactivates the account of cli, registered by
// register as name, with erase: true, through User-Interactive
// Authentication.
func deactivateErasing(t *testing.T, base, name string, cli *mautrix.Client) {
	t.Helper()
	post := func(body map[string]any) (int, map[string]any) {
		raw, _ := json.Marshal(body)
		req, err := http.NewRequest(http.MethodPost, base+"/_matrix/client/v3/account/deactivate", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		data, _ := io.ReadAll(resp.Body)
		json.Unmarshal(data, &out)
		return resp.StatusCode, out
	}
	st, first := post(map[string]any{"erase": true})
	if st != 401 {
		t.Fatalf("deactivate without auth = %d %v, want 401", st, first)
	}
	st, done := post(map[string]any{"erase": true, "auth": map[string]any{
		"type": "m.login.password", "session": first["session"],
		"identifier": map[string]any{"type": "m.id.user", "user": name},
		"password":   "correct horse " + name,
	}})
	if st != 200 {
		t.Fatalf("deactivate = %d %v", st, done)
	}
}

// TestErasedUserRedactedOverFederationEndToEnd: zed of server A sends
// messages to a public room and deactivates with erase: true. Bob of
// server B joins the room afterwards: B was not in the room when zed
// spoke, so A serves it zed's events redacted (backfill and /event), and
// bob reads them without their content, while alice's stay as they were.
func TestErasedUserRedactedOverFederationEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			zed := register(t, a.base, "zed")
			bob := register(t, b.base, "bob")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			csCall(t, a.base, zed.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID)), struct{}{}, &struct{}{})
			secret := sendMessage(t, a.base, zed.AccessToken, roomID, "z1", "zed's secret")
			sendMessage(t, a.base, alice.AccessToken, roomID, "a1", "alice stays")
			newest := sendMessage(t, a.base, zed.AccessToken, roomID, "z2", "zed again")
			deactivateErasing(t, a.base, "zed", zed)

			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &struct{}{})
			waitFor(t, "B fetches recent history after the join", func() bool {
				return csCall(t, b.base, bob.AccessToken, http.MethodGet, roomPath(roomID, "/event/"+url.PathEscape(string(newest))), nil, nil) == 200
			})
			// A serves the event to B's server, in the room now, redacted.
			peer := newFedPeer(t, b)
			var ev struct {
				PDUs []struct {
					Content map[string]any `json:"content"`
				} `json:"pdus"`
			}
			if st, code := peer.fedGet(t, a.name, http.MethodGet, "/_matrix/federation/v1/event/"+url.PathEscape(string(secret)), nil, &ev); st != 200 {
				t.Fatalf("GET /event from A = %d %s", st, code)
			}
			if len(ev.PDUs) != 1 || ev.PDUs[0].Content["body"] != nil {
				t.Errorf("A serves zed's erased event to B as %+v, want it redacted", ev.PDUs)
			}

			bodies := map[id.EventID]string{}
			for _, e := range decodeEvents(t, messagesBack(t, b.base, bob.AccessToken, roomID, 10)) {
				if e.Type == "m.room.message" {
					bodies[e.EventID] = e.Content.Body
				}
			}
			if len(bodies) != 3 {
				t.Fatalf("bob's history has %d messages (%v), want 3", len(bodies), bodies)
			}
			for evID, body := range bodies {
				if evID == secret || evID == newest {
					if body != "" {
						t.Errorf("bob reads zed's %s as %q, want it redacted", evID, body)
					}
				} else if body != "alice stays" {
					t.Errorf("bob reads alice's %s as %q", evID, body)
				}
			}
		})
	}
}
