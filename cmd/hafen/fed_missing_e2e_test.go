package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
)

// fakeRemote is a federation server the test plays: it publishes its
// signing key and answers get_missing_events with the events the test
// sets, so that the test can give A a gap to fill from events no real
// server holds.
type fakeRemote struct {
	*fedPeer
	mu      sync.Mutex
	missing []json.RawMessage
	asked   int
}

func startFakeRemote(t *testing.T) *fakeRemote {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	name := id.ServerName(ln.Addr().String())
	key, err := signing.GenerateKey(rand.Reader, name, "ed25519:fake")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRemote{fedPeer: &fedPeer{name: name, key: key, depth: 1000}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/key/v2/server", func(w http.ResponseWriter, r *http.Request) {
		obj := fmt.Sprintf(`{"server_name":%q,"valid_until_ts":%d,"verify_keys":{%q:{"key":%q}},"old_verify_keys":{}}`,
			name, time.Now().Add(time.Hour).UnixMilli(), key.KeyID, signing.EncodeBase64(key.Public()))
		signed, err := signing.SignJSON([]byte(obj), key)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(signed)
	})
	mux.HandleFunc("POST /_matrix/federation/v1/get_missing_events/{roomId}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.asked++
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"events": append([]json.RawMessage{}, f.missing...)})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := federation.New(federation.Config{ServerName: name, Key: key, AllowPrivate: true, SkipTLSVerify: true})
	t.Cleanup(c.Close)
	f.client = c
	return f
}

// TestFederationFetchesMissingEventsEndToEnd sends A an event whose prev
// events A lacks: A fetches them from the sender with get_missing_events
// and delivers all three to alice, oldest first in the stream. A gap the
// sender does not fill leaves the event refused with a clear error.
func TestFederationFetchesMissingEventsEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			f := startFakeRemote(t)
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			roomID := createPublicRoom(t, a.base, tok)
			bob := id.UserID("@bob:" + string(f.name))
			joinOverSend(t, a, f.fedPeer, tok, roomID, bob)

			rv := viewRoom(t, a.base, tok, roomID)
			msg := func(body string) string { return fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body) }
			m1 := f.build(t, rv, bob, "m.room.message", nil, msg("first, missing"))
			after := func(prev *event.PDU) func(*event.Proto) {
				return func(p *event.Proto) { p.PrevEvents = []id.EventID{prev.EventID()} }
			}
			m2 := f.buildWith(t, rv, bob, "m.room.message", nil, msg("second, missing"), f.key, after(m1))
			m3 := f.buildWith(t, rv, bob, "m.room.message", nil, msg("third, sent"), f.key, after(m2))
			f.mu.Lock()
			f.missing = []json.RawMessage{m2.JSON(), m1.JSON()}
			f.mu.Unlock()
			ans := sendOK(t, f.fedPeer, a.name, "gap", m3.JSON())
			if r := ans.PDUs[m3.EventID()]; r.Error != nil {
				t.Fatalf("m3 after fetching its prev events: error %q", *r.Error)
			}
			timeline := timelineOf(t, a.base, tok, roomID)
			for _, e := range []*event.PDU{m1, m2, m3} {
				if _, ok := timeline[e.EventID()]; !ok {
					t.Errorf("%s is not in alice's timeline", e.EventID())
				}
			}

			// A gap the sender does not fill.
			f.mu.Lock()
			f.missing, f.asked = nil, 0
			f.mu.Unlock()
			m4 := f.buildWith(t, rv, bob, "m.room.message", nil, msg("fourth, never sent"), f.key, after(m3))
			m5 := f.buildWith(t, rv, bob, "m.room.message", nil, msg("fifth, after a gap"), f.key, after(m4))
			ans = sendOK(t, f.fedPeer, a.name, "gap2", m5.JSON())
			if r := ans.PDUs[m5.EventID()]; r.Error == nil || !strings.Contains(*r.Error, "missing prev_events") {
				t.Errorf("m5 after an unfilled gap: answer %+v, want a missing prev_events error", ans.PDUs)
			}
			f.mu.Lock()
			asked := f.asked
			f.mu.Unlock()
			if asked != 1 {
				t.Errorf("A asked for the missing events %d times, want 1", asked)
			}
			if _, ok := timelineOf(t, a.base, tok, roomID)[m5.EventID()]; ok {
				t.Errorf("m5 reached alice although its prev event is missing")
			}
		})
	}
}
