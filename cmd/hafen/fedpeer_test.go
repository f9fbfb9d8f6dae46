package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
)

// fedServer is a `hafen serve` named after its federation address, with
// open registration, that federates with other servers on loopback.
type fedServer struct {
	name    id.ServerName
	base    string // client API base URL
	dataDir string
	logs    *syncBuffer
}

// startFedServer starts a federating server; extra are more flags (the
// database).
func startFedServer(t testing.TB, extra ...string) *fedServer {
	t.Helper()
	addr := freeAddr(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	args := append([]string{
		"--server-name", addr,
		"--listen-federation", addr,
		"--open-registration", "--rate-limit=false",
		"--federation-allow-private", "--federation-skip-tls-verify",
	}, extra...)
	base, _, logs, _ := startServeInfo(t, dataDir, args...)
	return &fedServer{name: id.ServerName(addr), base: base, dataDir: dataDir, logs: logs}
}

// fedPeer speaks for a server over federation as that server: it signs
// requests and events with the server's own key, read from its data
// directory. Tests build PDUs with it the way a remote server would.
type fedPeer struct {
	name   id.ServerName
	key    signing.Key
	client *federation.Client
	depth  int64
}

func newFedPeer(t testing.TB, s *fedServer) *fedPeer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.ParseKeyFile(raw, s.name)
	if err != nil || len(keys) != 1 {
		t.Fatalf("signing key of %s: %v", s.name, err)
	}
	c := federation.New(federation.Config{ServerName: s.name, Key: keys[0], AllowPrivate: true, SkipTLSVerify: true})
	t.Cleanup(c.Close)
	return &fedPeer{name: s.name, key: keys[0], client: c, depth: 1000}
}

// txnAnswer is the answer to a transaction.
type txnAnswer struct {
	PDUs map[id.EventID]struct {
		Error *string `json:"error"`
	} `json:"pdus"`
}

// sendTxn sends a transaction of PDUs to dest and returns the raw answer
// (or the error, an *federation.HTTPError for non-2xx answers).
func (p *fedPeer) sendTxn(t testing.TB, dest id.ServerName, txnID string, pdus ...json.RawMessage) ([]byte, error) {
	t.Helper()
	if pdus == nil {
		pdus = []json.RawMessage{}
	}
	body, _ := json.Marshal(map[string]any{"origin": p.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": pdus})
	return p.client.Do(context.Background(), federation.Request{
		Destination: dest, Method: http.MethodPut, Path: "/_matrix/federation/v1/send/" + url.PathEscape(txnID), Body: body,
	})
}

// roomView is what a remote server needs of a room to build events in it:
// its version, the event IDs of its state and its latest event.
type roomView struct {
	roomID id.RoomID
	v      *roomversion.Version
	state  map[event.StateKey]id.EventID
	latest id.EventID
}

// viewRoom reads a room through the Client-Server API of a member.
func viewRoom(t testing.TB, base, token string, roomID id.RoomID) roomView {
	t.Helper()
	var state []struct {
		EventID  id.EventID      `json:"event_id"`
		Type     string          `json:"type"`
		StateKey string          `json:"state_key"`
		Content  json.RawMessage `json:"content"`
	}
	csCall(t, base, token, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/state", nil, &state)
	rv := roomView{roomID: roomID, state: map[event.StateKey]id.EventID{}}
	for _, e := range state {
		rv.state[event.StateKey{Type: e.Type, StateKey: e.StateKey}] = e.EventID
		if e.Type == "m.room.create" {
			var c struct {
				RoomVersion string `json:"room_version"`
			}
			json.Unmarshal(e.Content, &c)
			if c.RoomVersion == "" {
				c.RoomVersion = "1"
			}
			v, ok := roomversion.Lookup(roomversion.ID(c.RoomVersion))
			if !ok {
				t.Fatalf("room version %q unknown", c.RoomVersion)
			}
			rv.v = v
		}
	}
	var msgs struct {
		Chunk []struct {
			EventID id.EventID `json:"event_id"`
		} `json:"chunk"`
	}
	csCall(t, base, token, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/messages?dir=b&limit=1", nil, &msgs)
	if len(msgs.Chunk) != 1 || rv.v == nil {
		t.Fatalf("room %s: no latest event or no create event", roomID)
	}
	rv.latest = msgs.Chunk[0].EventID
	return rv
}

// build makes an event of the peer's in the room, after the room's latest
// event, with the auth events the auth rules select from its state.
func (p *fedPeer) build(t testing.TB, rv roomView, sender id.UserID, typ string, stateKey *string, content string) *event.PDU {
	t.Helper()
	return p.buildWith(t, rv, sender, typ, stateKey, content, p.key, nil)
}

// buildWith is build with another signing key and a change to the proto
// event before signing.
func (p *fedPeer) buildWith(t testing.TB, rv roomView, sender id.UserID, typ string, stateKey *string, content string, key signing.Key, edit func(*event.Proto)) *event.PDU {
	t.Helper()
	needed, err := authrules.NeededStateKeys(rv.v, typ, stateKey, sender, json.RawMessage(content))
	if err != nil {
		t.Fatal(err)
	}
	var auth []id.EventID
	for _, k := range needed {
		if k.Type == "m.room.create" && rv.v.RoomIDFromCreateEvent {
			continue
		}
		if eid, ok := rv.state[k]; ok {
			auth = append(auth, eid)
		}
	}
	p.depth++
	proto := event.Proto{
		Type: typ, StateKey: stateKey, Sender: sender, RoomID: rv.roomID, Content: json.RawMessage(content),
		PrevEvents: []id.EventID{rv.latest}, AuthEvents: auth, Depth: p.depth, OriginServerTS: time.Now().UnixMilli(),
	}
	if rv.v.EventIDInEvent {
		t.Fatalf("room version %s needs reference hashes; the test peer builds v3+ events only", rv.v.ID)
	}
	if edit != nil {
		edit(&proto)
	}
	pdu, err := event.Build(proto, rv.v, key)
	if err != nil {
		t.Fatalf("build %s: %v", typ, err)
	}
	return pdu
}

// csCall makes a Client-Server API request with an access token, decodes
// the answer into out and returns the status.
func csCall(t testing.TB, base, token, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode != 200 && out != nil {
		t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// httpStatus returns the status of a federation error, 200 for nil.
func httpStatus(err error) (int, string) {
	if err == nil {
		return 200, ""
	}
	var he *federation.HTTPError
	if errors.As(err, &he) {
		return he.Status, he.Errcode
	}
	return 0, err.Error()
}

func stateKey(typ, key string) event.StateKey { return event.StateKey{Type: typ, StateKey: key} }
