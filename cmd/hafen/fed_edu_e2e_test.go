package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// restartableServer is a federating `hafen serve` that a test can stop
// and start again on the same name, data directory and database.
type restartableServer struct {
	fedServer
	args []string
	stop func() error
}

func startRestartable(t *testing.T, dbArgs ...string) *restartableServer {
	t.Helper()
	addr := freeAddr(t)
	s := &restartableServer{fedServer: fedServer{name: id.ServerName(addr), dataDir: filepath.Join(t.TempDir(), "data")}}
	s.args = append([]string{
		"--server-name", addr,
		"--listen-federation", addr,
		"--open-registration", "--rate-limit=false",
		"--federation-allow-private", "--federation-skip-tls-verify",
	}, dbArgs...)
	s.start(t)
	return s
}

func (s *restartableServer) start(t *testing.T) {
	t.Helper()
	s.base, s.stop, s.logs, _ = startServeInfo(t, s.dataDir, s.args...)
}

func (s *restartableServer) restart(t *testing.T) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stop %s: %v", s.name, err)
	}
	s.start(t)
}

// edSync is the part of a sync response the EDU tests read.
type edSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[id.RoomID]struct {
			Ephemeral struct {
				Events []struct {
					Type    string          `json:"type"`
					Content json.RawMessage `json:"content"`
				} `json:"events"`
			} `json:"ephemeral"`
		} `json:"join"`
	} `json:"rooms"`
	ToDevice struct {
		Events []struct {
			Sender  id.UserID       `json:"sender"`
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		} `json:"events"`
	} `json:"to_device"`
	DeviceLists struct {
		Changed []id.UserID `json:"changed"`
	} `json:"device_lists"`
}

func syncOnce(t *testing.T, base, token, since string, timeoutMS int) edSync {
	t.Helper()
	var s edSync
	path := fmt.Sprintf("/_matrix/client/v3/sync?timeout=%d", timeoutMS)
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	if st := csCall(t, base, token, http.MethodGet, path, nil, &s); st != 200 {
		t.Fatalf("sync = %d", st)
	}
	return s
}

// syncUntil syncs from since until ok holds for a response, and returns
// that response.
func syncUntil(t *testing.T, base, token, since, what string, ok func(edSync) bool) edSync {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := syncOnce(t, base, token, since, 1000)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the sync of %s", what, base)
		}
		since = s.NextBatch
	}
}

// TestFederationEDUsEndToEnd: typing notifications and read receipts of a
// user on one server reach the sync of a user on the other; to-device
// messages sent to a user of the other server while it is down are
// delivered after it restarts, exactly once, also when the request is
// retried under the same transaction ID.
func TestFederationEDUsEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startRestartable(t, dbArgs(t)...)
			b := startRestartable(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			aliceID, bobID := id.UserID(alice.UserID), id.UserID(bob.UserID)
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			rq := url.PathEscape(string(roomID))
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+rq+"?via="+url.QueryEscape(string(a.name)), struct{}{}, nil)
			bobSince := syncOnce(t, b.base, bob.AccessToken, "", 0).NextBatch
			aliceSince := syncOnce(t, a.base, alice.AccessToken, "", 0).NextBatch

			// Typing, A → B.
			typingOf := func(s edSync) (typers []id.UserID, ok bool) {
				for _, e := range s.Rooms.Join[roomID].Ephemeral.Events {
					var c struct {
						UserIDs []id.UserID `json:"user_ids"`
					}
					json.Unmarshal(e.Content, &c)
					if e.Type == "m.typing" {
						typers, ok = c.UserIDs, true
					}
				}
				return typers, ok
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/typing/"+url.PathEscape(string(aliceID)),
				map[string]any{"typing": true, "timeout": 30000}, &struct{}{})
			typingSeen := syncUntil(t, b.base, bob.AccessToken, bobSince, "alice typing", func(s edSync) bool {
				typers, _ := typingOf(s)
				return slices.Contains(typers, aliceID)
			})
			// alice's client goes away without a stop: when its timeout
			// runs out, A tells B, well before B drops her typing on its
			// own a minute after it last heard of it.
			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/typing/"+url.PathEscape(string(aliceID)),
				map[string]any{"typing": true, "timeout": 1000}, &struct{}{})
			syncUntil(t, b.base, bob.AccessToken, typingSeen.NextBatch, "the end of alice's typing", func(s edSync) bool {
				typers, ok := typingOf(s)
				return ok && !slices.Contains(typers, aliceID)
			})

			// A message of bob, and alice's read receipt for it, B → A → B.
			var sent struct {
				EventID id.EventID `json:"event_id"`
			}
			csCall(t, b.base, bob.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/m1",
				map[string]any{"msgtype": "m.text", "body": "read me"}, &sent)
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "read me")
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/rooms/"+rq+"/receipt/m.read/"+url.PathEscape(string(sent.EventID)),
				struct{}{}, &struct{}{})
			syncUntil(t, b.base, bob.AccessToken, bobSince, "alice's receipt", func(s edSync) bool {
				for _, e := range s.Rooms.Join[roomID].Ephemeral.Events {
					var c map[id.EventID]map[string]map[id.UserID]json.RawMessage
					json.Unmarshal(e.Content, &c)
					if _, ok := c[sent.EventID]["m.read"][aliceID]; e.Type == "m.receipt" && ok {
						return true
					}
				}
				return false
			})
			// bob's typing goes the other way.
			csCall(t, b.base, bob.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/typing/"+url.PathEscape(string(bobID)),
				map[string]any{"typing": true, "timeout": 30000}, &struct{}{})
			syncUntil(t, a.base, alice.AccessToken, aliceSince, "bob typing", func(s edSync) bool {
				for _, e := range s.Rooms.Join[roomID].Ephemeral.Events {
					var c struct {
						UserIDs []id.UserID `json:"user_ids"`
					}
					json.Unmarshal(e.Content, &c)
					if e.Type == "m.typing" && slices.Contains(c.UserIDs, bobID) {
						return true
					}
				}
				return false
			})

			// To-device while B is down: queued on A, delivered once after
			// B restarts, a retried request included.
			bobSince = syncOnce(t, b.base, bob.AccessToken, bobSince, 0).NextBatch
			if err := b.stop(); err != nil {
				t.Fatal(err)
			}
			toDevice := func(txnID string, devices map[string]any) {
				t.Helper()
				st := csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/sendToDevice/org.example.ping/"+txnID,
					map[string]any{"messages": map[id.UserID]any{bobID: devices}}, &struct{}{})
				if st != 200 {
					t.Fatalf("sendToDevice = %d", st)
				}
			}
			toDevice("t1", map[string]any{string(bob.DeviceID): map[string]any{"n": 1}})
			toDevice("t1", map[string]any{string(bob.DeviceID): map[string]any{"n": 1}})
			toDevice("t2", map[string]any{"*": map[string]any{"n": 2}})
			b.start(t)
			// bob's typing makes B contact A, which retries at once.
			csCall(t, b.base, bob.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/typing/"+url.PathEscape(string(bobID)),
				map[string]any{"typing": false}, &struct{}{})
			var got []int
			since := bobSince
			deadline := time.Now().Add(30 * time.Second)
			for len(got) < 2 && time.Now().Before(deadline) {
				s := syncOnce(t, b.base, bob.AccessToken, since, 1000)
				for _, e := range s.ToDevice.Events {
					var c struct{ N int }
					json.Unmarshal(e.Content, &c)
					if e.Sender != aliceID || e.Type != "org.example.ping" {
						t.Errorf("to-device event %s from %s", e.Type, e.Sender)
					}
					got = append(got, c.N)
				}
				since = s.NextBatch
			}
			// A last sync acknowledges them; nothing more comes.
			for _, e := range syncOnce(t, b.base, bob.AccessToken, since, 500).ToDevice.Events {
				got = append(got, -1)
				t.Errorf("extra to-device event %s", e.Content)
			}
			if !slices.Equal(got, []int{1, 2}) {
				t.Errorf("bob got to-device messages %v, want [1 2] once each", got)
			}
		})
	}
}
