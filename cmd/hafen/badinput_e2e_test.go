package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/httpapi/openapitest"
)

// clientSpecDir holds the spec's Client-Server OpenAPI files.
const clientSpecDir = "../../internal/clientapi/testdata/openapi"

// TestEveryOperationRefusesBadInput sends malformed input to every
// operation of the Client-Server API's OpenAPI files, on a running server
// with a room, an event, a filter and a media item to point at: each path
// parameter in turn replaced by values that are not what it names, each
// query parameter in turn set to garbage, bodies that are not JSON objects
// and, for each top-level property of an operation's body, that property
// alone with a value of every JSON type. Every answer must be a Matrix
// error (an errcode, or User-Interactive Authentication's flows) or a
// success, never a 5xx, a hang or a panic, and the server must serve its
// user afterwards. Requests that would reach another server find no
// address: the server's resolver knows no host.
//
// logout and logout/all take no input and end the session the sweep
// uses, so they are left out.
func TestEveryOperationRefusesBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("sweeps every operation")
	}
	ops := openapitest.Load(t, clientSpecDir)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			base, _, logs, _ := startServeHooks(t, filepath.Join(t.TempDir(), "data"),
				serveHooks{resolver: &meshResolver{}}, args...)
			sw := newBadInputSweep(t, base)
			var requests int
			for _, op := range ops {
				if op.OperationID == "logout" || op.OperationID == "logout_all" {
					continue
				}
				requests += sw.sweep(op)
			}
			t.Logf("%d operations, %d requests", len(ops), requests)
			sw.sendNULs()
			sw.checkStillServes()
			if strings.Contains(logs.String(), "panic") || strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("the server's log reports an error:\n%s", logs)
			}
		})
	}
}

// badInputSweep is the state of one server's sweep: the user whose token
// the requests carry and the objects the path parameters name.
type badInputSweep struct {
	t      *testing.T
	base   string
	http   *http.Client
	alice  *mautrix.Client
	params map[string]string
	txn    int
}

func newBadInputSweep(t *testing.T, base string) *badInputSweep {
	ctx := context.Background()
	alice := register(t, base, "alice")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Harbour"})
	if err != nil {
		t.Fatalf("createRoom: %v", err)
	}
	sent, err := alice.SendText(ctx, created.RoomID, "hello")
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	filterResp, err := alice.CreateFilter(ctx, &mautrix.Filter{})
	if err != nil {
		t.Fatalf("filter: %v", err)
	}
	media, err := alice.UploadBytes(ctx, []byte("harbour"), "text/plain")
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return &badInputSweep{
		t:     t,
		base:  base,
		http:  &http.Client{Timeout: 30 * time.Second},
		alice: alice,
		// The values the path parameters take when they are not the one
		// being garbled: objects alice may act on, on this server.
		params: map[string]string{
			"roomId":        string(created.RoomID),
			"roomIdOrAlias": string(created.RoomID),
			"roomAlias":     "#nowhere:hafen.test",
			"eventId":       string(sent.EventID),
			"userId":        string(alice.UserID),
			"deviceId":      string(alice.DeviceID),
			"eventType":     "org.example.sweep",
			"type":          "org.example.sweep",
			"stateKey":      "",
			"filterId":      filterResp.FilterID,
			"serverName":    "hafen.test",
			"mediaId":       media.ContentURI.FileID,
			"scope":         "global",
			"tag":           "u.work",
			"version":       "1",
			"sessionId":     "session",
		},
	}
}

// pathValue returns the value of a path parameter that is not garbled:
// the sweep's object for its name, else the spec's first enum value or
// its example, else "x". Transaction IDs are new each time.
func (sw *badInputSweep) pathValue(op openapitest.Op, name string) string {
	if name == "txnId" {
		sw.txn++
		return fmt.Sprintf("sweep%d", sw.txn)
	}
	if v, ok := sw.params[name]; ok {
		return v
	}
	for _, p := range op.Params {
		if p.Name == name && p.In == "path" {
			if len(p.Enum) > 0 {
				return p.Enum[0]
			}
			if p.Example != "" {
				return p.Example
			}
		}
	}
	return "x"
}

// badPathValues are what a garbled path parameter takes (escaped as they
// stand): no ID or name of any kind (for a server name, none that could
// name another server), an unknown but valid ID of the kind
// the parameter names, a NUL, bytes that are no UTF-8, and an overlong
// value.
func badPathValues(name string) []string {
	if name == "serverName" {
		// No server name at all: another server's name would be fetched
		// from.
		return []string{"a_b", "%00", "%FF%FE", strings.Repeat("a", 300)}
	}
	vals := []string{"x", "%00", "%FF%FE", strings.Repeat("a", 300)}
	switch name {
	case "roomId", "roomIdOrAlias":
		vals = append(vals, url.PathEscape("!unknown:hafen.test"))
	case "eventId":
		vals = append(vals, url.PathEscape("$unknown"))
	case "userId":
		vals = append(vals, url.PathEscape("@nobody:hafen.test"))
	case "roomAlias":
		vals = append(vals, url.PathEscape("#"+strings.Repeat("a", 300)+":hafen.test"))
	}
	return vals
}

// badQueryValues are what a garbled query parameter takes. Parameters
// that name a server get only values that are no server name, so that
// the sweep does not try to reach another server.
func badQueryValues(name string) []string {
	switch name {
	case "server", "server_name", "via":
		return []string{"", "%00", "a%20b", "a_b"}
	}
	return []string{"", "x", "-1", "99999999999999999999", "1e400", "%00", "%FF", "true", strings.Repeat("9", 400)}
}

// badBodies are request bodies that are not JSON objects, or not JSON, or
// that hold a number no parser can read, or NULs and a lone surrogate in
// a message's text.
var badBodies = []string{"", "{", "[]", `"s"`, "5", "null", "{\"a\":\"\xff\"}", `{"a":1}{"b":2}`, `{"a":1.5e400}`,
	`{"msgtype":"m.text","body":"a\u0000b","a\u0000b":"\ud800"}`}

// badPropertyValues are the values each body property takes in turn.
var badPropertyValues = []any{5, -1, 1.5, "x", "", "a\x00b", []any{}, []any{5}, []any{"a\x00b"}, map[string]any{}, map[string]any{"x": 5}, map[string]any{"a\x00b": "a\x00b"}, nil, true, strings.Repeat("x", 20000)}

// sweep sends op's malformed requests and returns how many it sent.
func (sw *badInputSweep) sweep(op openapitest.Op) int {
	segs := strings.Split(op.Path, "/")
	build := func(garble int, bad string) string {
		out := make([]string, len(segs))
		for i, seg := range segs {
			if !strings.HasPrefix(seg, "{") || !strings.HasSuffix(seg, "}") {
				out[i] = seg
				continue
			}
			if i == garble {
				out[i] = bad
				continue
			}
			out[i] = url.PathEscape(sw.pathValue(op, strings.Trim(seg, "{}")))
		}
		return strings.Join(out, "/")
	}
	n := 0
	// Each path parameter garbled in turn.
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			for _, bad := range badPathValues(strings.Trim(seg, "{}")) {
				sw.do(op, build(i, bad), "{}")
				n++
			}
		}
	}
	// Each query parameter garbled in turn.
	for _, p := range op.Params {
		if p.In != "query" {
			continue
		}
		for _, bad := range badQueryValues(p.Name) {
			sw.do(op, build(-1, "")+"?"+url.QueryEscape(p.Name)+"="+bad, "{}")
			n++
		}
	}
	if op.Method == http.MethodGet || op.Method == http.MethodDelete && len(op.BodyProperties) == 0 {
		return n
	}
	// Bodies that are no JSON object, then each property with every type.
	for _, body := range badBodies {
		sw.do(op, build(-1, ""), body)
		n++
	}
	for _, prop := range op.BodyProperties {
		for _, v := range badPropertyValues {
			body, err := json.Marshal(map[string]any{prop: v})
			if err != nil {
				sw.t.Fatal(err)
			}
			sw.do(op, build(-1, ""), string(body))
			n++
		}
	}
	// A request may have made alice leave the room; she comes back for
	// the next operation.
	if _, err := sw.alice.JoinRoomByID(context.Background(), id.RoomID(sw.params["roomId"])); err != nil {
		sw.t.Fatalf("after %v: alice cannot rejoin the room: %v", op, err)
	}
	return n
}

// do sends one request as alice and checks its answer.
func (sw *badInputSweep) do(op openapitest.Op, path, body string) {
	sw.t.Helper()
	req, err := http.NewRequest(op.Method, sw.base+path, strings.NewReader(body))
	if err != nil {
		// A path net/http refuses to send is no request to the server.
		return
	}
	req.Header.Set("Authorization", "Bearer "+sw.alice.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := sw.http.Do(req)
	if err != nil {
		sw.t.Errorf("%v: %s %s with %.80q: %v", op, op.Method, path, body, err)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 500 {
		sw.t.Errorf("%v: %s %.200s with %.80q → %d %.300s", op, op.Method, path, body, resp.StatusCode, raw)
		return
	}
	if resp.StatusCode < 400 {
		return
	}
	var answer struct {
		Errcode string          `json:"errcode"`
		Flows   json.RawMessage `json:"flows"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || answer.Errcode == "" && len(answer.Flows) == 0 {
		sw.t.Errorf("%v: %s %.200s with %.80q → %d without a Matrix error: %.300s", op, op.Method, path, body, resp.StatusCode, raw)
	}
}

// sendNULs sends the text of events, state, profiles and new rooms with
// NUL characters in each place the server reads it from into a table of
// its own (names, topics, display names, relations, reaction keys, room
// types, the searchable body). JSON allows them; PostgreSQL's text does
// not, so the server must keep them out of its columns without failing
// the request or any of the consumers behind it.
func (sw *badInputSweep) sendNULs() {
	room := "/_matrix/client/v3/rooms/" + url.PathEscape(sw.params["roomId"])
	event := sw.params["eventId"]
	alice := url.PathEscape(sw.params["userId"])
	put := openapitest.Op{OperationID: "NUL text", Method: http.MethodPut}
	post := openapitest.Op{OperationID: "NUL text", Method: http.MethodPost}
	nul := "a\\u0000b"
	sw.do(put, room+"/state/m.room.name/", `{"name":"`+nul+`"}`)
	sw.do(put, room+"/state/m.room.topic/", `{"topic":"`+nul+`","m.topic":{"m.text":[{"body":"`+nul+`"}]}}`)
	sw.do(put, room+"/state/m.room.member/"+alice, `{"membership":"join","displayname":"`+nul+`","avatar_url":"mxc://`+nul+`"}`)
	sw.do(put, room+"/state/m.room.canonical_alias/", `{"alias":"#`+nul+`:hafen.test"}`)
	sw.do(put, room+"/state/org.example.sweep/"+url.PathEscape("a b"), `{"x":"`+nul+`"}`)
	sw.do(put, "/_matrix/client/v3/profile/"+alice+"/displayname", `{"displayname":"`+nul+`"}`)
	sw.do(put, "/_matrix/client/v3/profile/"+alice+"/avatar_url", `{"avatar_url":"mxc://hafen.test/`+nul+`"}`)
	sw.do(put, "/_matrix/client/v3/directory/list/room/"+url.PathEscape(sw.params["roomId"]), `{"visibility":"public"}`)
	for i, content := range []string{
		`{"m.relates_to":{"rel_type":"m.annotation","event_id":"` + event + `","key":"` + nul + `"}}`,
		`{"msgtype":"m.text","body":"` + nul + `","m.relates_to":{"rel_type":"` + nul + `","event_id":"` + event + `"}}`,
		`{"msgtype":"m.text","body":"` + nul + `","m.relates_to":{"rel_type":"m.thread","event_id":"` + event + `"}}`,
		`{"msgtype":"` + nul + `","body":"` + nul + `","format":"` + nul + `","formatted_body":"` + nul + `"}`,
	} {
		sw.do(put, fmt.Sprintf("%s/send/m.room.message/nul%d", room, i), content)
	}
	sw.do(put, room+"/send/m.reaction/nulreaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"`+event+`","key":"`+nul+`"}}`)
	sw.do(post, "/_matrix/client/v3/createRoom", `{"visibility":"public","name":"`+nul+`","topic":"`+nul+`","creation_content":{"type":"`+nul+`"}}`)
	sw.do(post, "/_matrix/client/v3/createRoom", `{"initial_state":[{"type":"`+nul+`","state_key":"","content":{}}]}`)
	sw.do(post, "/_matrix/client/v3/createRoom", `{"initial_state":[{"type":"org.example.sweep","state_key":"`+nul+`","content":{}}]}`)
	sw.do(post, "/_matrix/client/v3/createRoom", `{"room_alias_name":"`+nul+`"}`)
	sw.do(post, "/_matrix/client/v3/pushers/set", `{"kind":"http","app_id":"`+nul+`","pushkey":"`+nul+`","app_display_name":"`+nul+`",`+
		`"device_display_name":"`+nul+`","profile_tag":"`+nul+`","lang":"`+nul+`","data":{"url":"https://push.invalid/_matrix/push/v1/notify"}}`)
	sw.do(post, room+"/receipt/m.read/"+url.PathEscape(event), `{"thread_id":"`+nul+`"}`)
	sw.do(post, room+"/read_markers", `{"m.fully_read":"`+event+`","m.read":"`+event+`","m.read.private":"`+event+`","`+nul+`":"x"}`)
	sw.do(put, "/_matrix/client/v3/presence/"+alice+"/status", `{"presence":"online","status_msg":"`+nul+`"}`)
	sw.do(post, "/_matrix/client/v3/publicRooms", `{"filter":{"generic_search_term":"`+nul+`","room_types":["`+nul+`"]}}`)
	sw.do(post, "/_matrix/client/v3/user_directory/search", `{"search_term":"`+nul+`"}`)
	sw.do(post, "/_matrix/client/v3/search", `{"search_categories":{"room_events":{"search_term":"`+nul+`","filter":{"rooms":["`+nul+`"]}}}}`)
	sw.do(post, "/_matrix/client/v3/user/"+alice+"/filter", `{"room":{"rooms":["`+nul+`"],"timeline":{"types":["`+nul+`"]}}}`)
	sw.do(put, room+"/state/m.room.join_rules/", `{"join_rule":"`+nul+`"}`)
	sw.do(put, room+"/state/m.room.history_visibility/", `{"history_visibility":"`+nul+`"}`)
	sw.do(put, room+"/state/m.room.power_levels/", `{"users":{"@`+nul+`:hafen.test":100, "`+string(sw.alice.UserID)+`":100}}`)
}

// checkStillServes checks that alice, after the sweep, can still read the
// room's history, send into it and sync.
func (sw *badInputSweep) checkStillServes() {
	ctx := context.Background()
	roomID := id.RoomID(sw.params["roomId"])
	if _, err := sw.alice.Whoami(ctx); err != nil {
		sw.t.Fatalf("whoami after the sweep: %v", err)
	}
	if _, err := sw.alice.SendText(ctx, roomID, "still here"); err != nil {
		sw.t.Errorf("send after the sweep: %v", err)
	}
	// The search index took in every event before the last one.
	found, err := sw.alice.Search(ctx, &mautrix.ReqSearch{SearchTerm: "still"})
	if err != nil {
		sw.t.Errorf("search after the sweep: %v", err)
	} else if found.Count == 0 {
		sw.t.Errorf("search after the sweep does not find the last message")
	}
	for _, path := range []string{"/_matrix/client/v3/publicRooms", "/_matrix/client/v3/user_directory/search"} {
		sw.do(openapitest.Op{OperationID: "after the sweep", Method: http.MethodPost}, path, `{"search_term":"a"}`)
	}
	msgs, err := sw.alice.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 1000)
	if err != nil {
		sw.t.Fatalf("messages after the sweep: %v", err)
	}
	var create bool
	for _, ev := range msgs.Chunk {
		create = create || ev.Type == event.StateCreate
	}
	if !create {
		sw.t.Errorf("the room's history after the sweep lacks its create event (%d events)", len(msgs.Chunk))
	}
	if _, err := sw.alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline); err != nil {
		sw.t.Errorf("sync after the sweep: %v", err)
	}
}
