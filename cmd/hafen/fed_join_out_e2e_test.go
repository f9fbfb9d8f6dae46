package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/fedjoin"
)

// directKeys fetches other servers' keys from the servers themselves,
// for a joining server in a test.
type directKeys struct {
	client *federation.Client
	mu     sync.Mutex
	keys   map[id.ServerName]signing.ServerKeys
}

func (d *directKeys) EnsureForPDUs(ctx context.Context, pdus []json.RawMessage) {
	for _, raw := range pdus {
		var p struct {
			Signatures map[id.ServerName]json.RawMessage `json:"signatures"`
		}
		json.Unmarshal(raw, &p)
		for srv := range p.Signatures {
			d.mu.Lock()
			_, ok := d.keys[srv]
			d.mu.Unlock()
			if ok {
				continue
			}
			resp, err := d.client.Do(ctx, federation.Request{Destination: srv, Method: http.MethodGet, Path: "/_matrix/key/v2/server", Unsigned: true})
			if err != nil {
				continue
			}
			if sk, err := signing.ParseKeyResponse(resp, srv, time.Now().UnixMilli()); err == nil {
				d.mu.Lock()
				d.keys[srv] = sk
				d.mu.Unlock()
			}
		}
	}
}

func (d *directKeys) Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.keys[server].Keys[keyID]
	return k, ok
}

// tamperingTransport breaks the signatures of the create event in
// send_join answers.
type tamperingTransport struct{ fedjoin.Transport }

func (t tamperingTransport) Do(ctx context.Context, req federation.Request) ([]byte, error) {
	raw, err := t.Transport.Do(ctx, req)
	if err != nil || !strings.Contains(req.Path, "/send_join/") {
		return raw, err
	}
	var ans map[string]json.RawMessage
	json.Unmarshal(raw, &ans)
	for _, field := range []string{"state", "auth_chain"} {
		var evs []map[string]any
		json.Unmarshal(ans[field], &evs)
		for _, e := range evs {
			if e["type"] != "m.room.create" {
				continue
			}
			for _, sigs := range e["signatures"].(map[string]any) {
				for kid := range sigs.(map[string]any) {
					sigs.(map[string]any)[kid] = base64.RawStdEncoding.EncodeToString(make([]byte, 64))
				}
			}
		}
		ans[field], _ = json.Marshal(evs)
	}
	return json.Marshal(ans)
}

// TestOutboundJoinEndToEnd joins users of another server to a room of a
// real server A through fedjoin: make_join, build and sign, send_join, and
// the checks of the answer. A forged event in the answer fails the join;
// an unknown room fails at make_join.
func TestOutboundJoinEndToEnd(t *testing.T) {
	a := startFedServer(t)
	p := startRecordingPeer(t, signing.Key{})
	alice := register(t, a.base, "alice")
	roomID := createPublicRoom(t, a.base, alice.AccessToken)
	keys := &directKeys{client: p.client, keys: map[id.ServerName]signing.ServerKeys{}}
	j := &fedjoin.Joiner{ServerName: p.name, Key: p.key, Client: p.client, Keys: keys}
	ctx := context.Background()

	carol := id.UserID("@carol:" + string(p.name))
	joined, err := j.Join(ctx, roomID, carol, []id.ServerName{p.name, a.name}, map[string]any{"displayname": "Carol"})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	var content struct {
		Membership  string `json:"membership"`
		Displayname string `json:"displayname"`
	}
	json.Unmarshal(joined.Event.Content(), &content)
	if joined.Server != a.name || joined.Event.Sender() != carol || content.Membership != "join" || content.Displayname != "Carol" {
		t.Errorf("joined via %s: %s %+v", joined.Server, joined.Event.Sender(), content)
	}
	types := map[string]bool{}
	for _, e := range joined.State {
		types[e.Type()] = true
		if sk, _ := e.StateKey(); e.Type() == "m.room.member" && sk != string(alice.UserID) {
			t.Errorf("state before the join holds the member %s", sk)
		}
	}
	if !types["m.room.create"] || !types["m.room.power_levels"] || !types["m.room.join_rules"] || !types["m.room.member"] || len(joined.AuthChain) < 3 {
		t.Errorf("state types %v, auth chain of %d", types, len(joined.AuthChain))
	}
	if _, ok := timelineOf(t, a.base, alice.AccessToken, roomID)[joined.Event.EventID()]; !ok {
		t.Errorf("carol's join is not in alice's timeline")
	}

	// A forged create event in the answer fails the join.
	forging := &fedjoin.Joiner{ServerName: p.name, Key: p.key, Client: tamperingTransport{p.client}, Keys: keys}
	if _, err := forging.Join(ctx, roomID, id.UserID("@dave:"+string(p.name)), []id.ServerName{a.name}, nil); !errors.Is(err, fedjoin.ErrBadAnswer) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("join with a forged answer = %v, want ErrBadAnswer for a bad signature", err)
	}
	// A room A does not know fails at make_join.
	unknown := id.RoomID("!nosuchroom:" + string(a.name))
	if _, err := j.Join(ctx, unknown, carol, []id.ServerName{a.name}, nil); err == nil || errors.Is(err, fedjoin.ErrBadAnswer) {
		t.Errorf("join of an unknown room = %v, want a make_join error", err)
	}
	if _, err := j.Join(ctx, roomID, carol, []id.ServerName{p.name}, nil); !errors.Is(err, fedjoin.ErrNoServer) {
		t.Errorf("join through only itself = %v, want ErrNoServer", err)
	}
}

// TestRemoteJoinAndMessagesEndToEnd: bob of server B joins a room of
// server A through B's client API (/join with via), and messages go both
// ways through the federation senders and /send, into each side's sync.
func TestRemoteJoinAndMessagesEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			rq := url.PathEscape(string(roomID))

			var unknown struct {
				Errcode string `json:"errcode"`
			}
			if st := csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape("!nosuchroom:"+string(a.name)), struct{}{}, nil); st != 404 {
				t.Errorf("join of a room A does not know = %d %+v, want 404", st, unknown)
			}
			var joined struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+rq+"?via="+url.QueryEscape(string(a.name)), struct{}{}, &joined)
			if joined.RoomID != roomID {
				t.Fatalf("join answered room %s, want %s", joined.RoomID, roomID)
			}
			send := func(base, token, body string) {
				t.Helper()
				path := "/_matrix/client/v3/rooms/" + rq + "/send/m.room.message/" + url.PathEscape(body)
				csCall(t, base, token, http.MethodPut, path, map[string]any{"msgtype": "m.text", "body": body}, &struct{}{})
			}
			send(a.base, alice.AccessToken, "hello from A")
			waitTimelineBody(t, b.base, bob.AccessToken, roomID, "hello from A")
			send(b.base, bob.AccessToken, "hello from B")
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "hello from B")

			// B is in the room now: a second user of B joins on B's own
			// head, and A hears of it.
			carol := register(t, b.base, "carol")
			csCall(t, b.base, carol.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+rq, struct{}{}, &joined)
			send(b.base, carol.AccessToken, "carol here")
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "carol here")

			// A room of A joined by its alias, which A resolves.
			var aliased struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "room_alias_name": "lobby"}, &aliased)
			alias := "#lobby:" + string(a.name)
			csCall(t, b.base, carol.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(alias), struct{}{}, &joined)
			if joined.RoomID != aliased.RoomID {
				t.Fatalf("join by alias answered %s, want %s", joined.RoomID, aliased.RoomID)
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(aliased.RoomID))+"/send/m.room.message/lobby1",
				map[string]any{"msgtype": "m.text", "body": "welcome to the lobby"}, &struct{}{})
			waitTimelineBody(t, b.base, carol.AccessToken, aliased.RoomID, "welcome to the lobby")
			if st := csCall(t, b.base, carol.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape("#nowhere:"+string(a.name)), struct{}{}, nil); st != 404 {
				t.Errorf("join by an alias A does not know = %d, want 404", st)
			}
		})
	}
}

// waitTimelineBody waits until a message with body is in the user's sync
// timeline of the room.
func waitTimelineBody(t *testing.T, base, token string, roomID id.RoomID, body string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, raw := range timelineOf(t, base, token, roomID) {
			var e struct {
				Content struct {
					Body string `json:"body"`
				} `json:"content"`
			}
			json.Unmarshal(raw, &e)
			if e.Content.Body == body {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never reached %s's timeline of %s", body, base, roomID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
