package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

// roomEnv is the real stack for the room endpoints: the router with the
// account and room routes, a room.Service, the directory, profile and
// filter services and a store (SQLite in t.TempDir() unless the test runs
// on every backend, see forEachRoomEnv), served on a loopback listener for
// mautrix clients.
type roomEnv struct {
	*testEnv
	db  *store.DB
	url string
	// events is the stream the room service publishes to (see withSync).
	events *stream.Stream
	// profiles carries profile changes into rooms when a test drains it
	// (drainProfiles); no worker runs in the background.
	profiles *profile.Service
}

// drainProfiles carries every pending profile change into the rooms.
func (e *roomEnv) drainProfiles() {
	e.t.Helper()
	if err := e.profiles.Drain(context.Background()); err != nil {
		e.t.Fatalf("drain profile changes: %v", err)
	}
}

func newRoomEnv(t *testing.T) *roomEnv {
	t.Helper()
	return newRoomEnvDSN(t, storetest.SQLiteDSN(t))
}

// testLogWriter sends log lines to the test's log, so a failure shows the
// server's side of it.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// user registers an account and returns a mautrix client and the raw
// token.
func (e *roomEnv) user(name string) (*mautrix.Client, string) {
	e.t.Helper()
	reg := e.register(name, "pw-"+name)
	userID := id.UserID(reg.str("user_id"))
	cli, err := mautrix.NewClient(e.url, mid.UserID(userID), reg.str("access_token"))
	if err != nil {
		e.t.Fatal(err)
	}
	cli.DefaultHTTPRetries = 0
	return cli, reg.str("access_token")
}

// wantErr asserts that err is a Matrix error with the given status and
// errcode.
func wantErr(t *testing.T, what string, err error, status int, errcode string) {
	t.Helper()
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.RespError == nil {
		t.Fatalf("%s: err = %v, want %d %s", what, err, status, errcode)
	}
	if he.RespError.StatusCode != status || he.RespError.ErrCode != errcode {
		t.Fatalf("%s: got %d %s, want %d %s", what, he.RespError.StatusCode, he.RespError.ErrCode, status, errcode)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestCreateRoomPresetsAndVersions(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	ctx := context.Background()
	tests := []struct {
		name, preset, visibility, version string
		wantJoinRule, wantVersion         string
	}{
		{"default is private_chat in v12", "", "", "", "invite", "12"},
		{"public visibility implies public_chat", "", "public", "", "public", "12"},
		{"private_chat", "private_chat", "", "", "invite", "12"},
		{"trusted_private_chat", "trusted_private_chat", "", "", "invite", "12"},
		{"public_chat v10", "public_chat", "", "10", "public", "10"},
		{"private_chat v10", "private_chat", "", "10", "invite", "10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
				Preset: tc.preset, Visibility: tc.visibility, RoomVersion: mid.RoomVersion(tc.version), Name: "Room " + tc.name,
			}))
			var jr mevent.JoinRulesEventContent
			if err := alice.StateEvent(ctx, resp.RoomID, mevent.StateJoinRules, "", &jr); err != nil {
				t.Fatal(err)
			}
			if string(jr.JoinRule) != tc.wantJoinRule {
				t.Errorf("join_rule = %q, want %q", jr.JoinRule, tc.wantJoinRule)
			}
			var create map[string]any
			if err := alice.StateEvent(ctx, resp.RoomID, mevent.StateCreate, "", &create); err != nil {
				t.Fatal(err)
			}
			if create["room_version"] != tc.wantVersion {
				t.Errorf("room_version = %v, want %s", create["room_version"], tc.wantVersion)
			}
			var name mevent.RoomNameEventContent
			if err := alice.StateEvent(ctx, resp.RoomID, mevent.StateRoomName, "", &name); err != nil || name.Name != "Room "+tc.name {
				t.Errorf("name = %q, %v", name.Name, err)
			}
		})
	}

	// room_alias_name becomes #name:hafen.test; a taken alias is M_ROOM_IN_USE.
	r := must[*mautrix.RespCreateRoom](t, "create with alias")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "lobby"}))
	res := must[*mautrix.RespAliasResolve](t, "resolve")(alice.ResolveAlias(ctx, "#lobby:hafen.test"))
	if res.RoomID != r.RoomID {
		t.Errorf("alias resolves to %s, want %s", res.RoomID, r.RoomID)
	}
	_, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "lobby"})
	wantErr(t, "taken alias", err, 400, "M_ROOM_IN_USE")
	_, err = alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomVersion: "99"})
	wantErr(t, "unknown version", err, 400, "M_UNSUPPORTED_ROOM_VERSION")
	// A power level override that leaves the creator unable to send the
	// later events makes an invalid room state.
	raw := e.do("POST", "/_matrix/client/v3/createRoom", alice.AccessToken, map[string]any{
		"room_version":                 "10",
		"name":                         "x",
		"power_level_content_override": map[string]any{"users": map[string]any{}, "state_default": 100},
	})
	e.expect(raw, 400, "M_INVALID_ROOM_STATE")
}

func TestInviteJoinSendWithTxn(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))

	_, err := bob.JoinRoomByID(ctx, r.RoomID)
	wantErr(t, "join an invite-only room", err, 403, "M_FORBIDDEN")
	must[*mautrix.RespInviteUser](t, "invite")(alice.InviteUser(ctx, r.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}))
	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))

	jm := must[*mautrix.RespJoinedMembers](t, "joined_members")(alice.JoinedMembers(ctx, r.RoomID))
	if len(jm.Joined) != 2 {
		t.Errorf("joined = %v, want alice and bob", jm.Joined)
	}
	jr := must[*mautrix.RespJoinedRooms](t, "joined_rooms")(bob.JoinedRooms(ctx))
	if len(jr.JoinedRooms) != 1 || jr.JoinedRooms[0] != r.RoomID {
		t.Errorf("joined_rooms = %v", jr.JoinedRooms)
	}

	content := map[string]any{"msgtype": "m.text", "body": "hello"}
	first := must[*mautrix.RespSendEvent](t, "send")(alice.SendMessageEvent(ctx, r.RoomID, mevent.EventMessage, content, mautrix.ReqSendEvent{TransactionID: "t1"}))
	retry := must[*mautrix.RespSendEvent](t, "retry")(alice.SendMessageEvent(ctx, r.RoomID, mevent.EventMessage, content, mautrix.ReqSendEvent{TransactionID: "t1"}))
	if retry.EventID != first.EventID {
		t.Errorf("retried txnId gave %s, want the first event %s", retry.EventID, first.EventID)
	}
	other := must[*mautrix.RespSendEvent](t, "bob send")(bob.SendMessageEvent(ctx, r.RoomID, mevent.EventMessage, content, mautrix.ReqSendEvent{TransactionID: "t1"}))
	if other.EventID == first.EventID {
		t.Errorf("another user's txnId t1 returned alice's event")
	}
	msgs := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 50))
	n := 0
	for _, ev := range msgs.Chunk {
		if ev.ID == first.EventID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the retried event appears %d times in the timeline, want 1", n)
	}
	// unsigned.transaction_id goes to the sending device only.
	own := must[*mevent.Event](t, "get own")(alice.GetEvent(ctx, r.RoomID, first.EventID))
	if own.Unsigned.TransactionID != "t1" {
		t.Errorf("sender's unsigned.transaction_id = %q, want t1", own.Unsigned.TransactionID)
	}
	seenByBob := must[*mevent.Event](t, "get other")(bob.GetEvent(ctx, r.RoomID, first.EventID))
	if seenByBob.Unsigned.TransactionID != "" {
		t.Errorf("another user sees transaction_id %q", seenByBob.Unsigned.TransactionID)
	}

	// Joining by alias and unknown rooms.
	must[*mautrix.RespAliasCreate](t, "alias")(alice.CreateAlias(ctx, "#team:hafen.test", r.RoomID))
	carol, _ := e.user("carol")
	must[*mautrix.RespInviteUser](t, "invite carol")(alice.InviteUser(ctx, r.RoomID, &mautrix.ReqInviteUser{UserID: carol.UserID}))
	j := must[*mautrix.RespJoinRoom](t, "join by alias")(carol.JoinRoom(ctx, "#team:hafen.test", nil))
	if j.RoomID != r.RoomID {
		t.Errorf("join by alias returned %s", j.RoomID)
	}
	_, err = carol.JoinRoom(ctx, "#nowhere:hafen.test", nil)
	wantErr(t, "join unknown alias", err, 404, "M_NOT_FOUND")
	_, err = carol.JoinRoomByID(ctx, "!unknown:hafen.test")
	wantErr(t, "join unknown room", err, 404, "M_NOT_FOUND")

	// Kick, ban, unban, leave, forget.
	_, err = bob.KickUser(ctx, r.RoomID, &mautrix.ReqKickUser{UserID: carol.UserID})
	wantErr(t, "kick without power", err, 403, "M_FORBIDDEN")
	must[*mautrix.RespKickUser](t, "kick")(alice.KickUser(ctx, r.RoomID, &mautrix.ReqKickUser{UserID: carol.UserID, Reason: "bye"}))
	must[*mautrix.RespBanUser](t, "ban")(alice.BanUser(ctx, r.RoomID, &mautrix.ReqBanUser{UserID: carol.UserID}))
	_, err = carol.JoinRoomByID(ctx, r.RoomID)
	wantErr(t, "banned join", err, 403, "M_FORBIDDEN")
	must[*mautrix.RespUnbanUser](t, "unban")(alice.UnbanUser(ctx, r.RoomID, &mautrix.ReqUnbanUser{UserID: carol.UserID}))
	_, err = alice.UnbanUser(ctx, r.RoomID, &mautrix.ReqUnbanUser{UserID: carol.UserID})
	wantErr(t, "unban a user who is not banned", err, 403, "M_FORBIDDEN")
	_, err = bob.ForgetRoom(ctx, r.RoomID)
	wantErr(t, "forget while joined", err, 400, "M_UNKNOWN")
	must[*mautrix.RespLeaveRoom](t, "leave")(bob.LeaveRoom(ctx, r.RoomID))
	must[*mautrix.RespForgetRoom](t, "forget")(bob.ForgetRoom(ctx, r.RoomID))
}

var customState = mevent.Type{Type: "org.example.state", Class: mevent.StateEventType}

func TestStateGetPut(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))

	must[*mautrix.RespSendEvent](t, "topic")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "first"}))
	second := must[*mautrix.RespSendEvent](t, "topic 2")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "second"}))
	var topic map[string]any
	if err := alice.StateEvent(ctx, r.RoomID, mevent.StateTopic, "", &topic); err != nil || topic["topic"] != "second" {
		t.Errorf("topic = %v, %v", topic, err)
	}
	// format=event returns the whole event, with prev_content.
	ev := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(string(r.RoomID))+"/state/m.room.topic/?format=event", alice.AccessToken, nil)
	e.expect(ev, 200, "")
	if ev.str("event_id") != string(second.EventID) || ev.str("sender") != string(alice.UserID) {
		t.Errorf("format=event = %s", ev.raw)
	}
	unsigned, _ := ev.body["unsigned"].(map[string]any)
	if pc, _ := unsigned["prev_content"].(map[string]any); pc["topic"] != "first" {
		t.Errorf("unsigned.prev_content = %v, want the first topic", unsigned["prev_content"])
	}
	// A state key with a slash, escaped in the path.
	must[*mautrix.RespSendEvent](t, "custom")(alice.SendStateEvent(ctx, r.RoomID, customState, "a/b", map[string]any{"v": 1}))
	var custom map[string]any
	if err := alice.StateEvent(ctx, r.RoomID, customState, "a/b", &custom); err != nil || custom["v"] != float64(1) {
		t.Errorf("state key a/b = %v, %v", custom, err)
	}
	err := alice.StateEvent(ctx, r.RoomID, customState, "missing", &custom)
	wantErr(t, "missing state", err, 404, "M_NOT_FOUND")

	state := must[mautrix.RoomStateMap](t, "state")(alice.State(ctx, r.RoomID))
	if state[mevent.StateTopic][""] == nil || state[mevent.StateCreate][""] == nil {
		t.Errorf("state lacks topic or create: %v", state)
	}
	// Non-members of a room that is not world_readable may not read it.
	err = bob.StateEvent(ctx, r.RoomID, mevent.StateTopic, "", &topic)
	wantErr(t, "non-member state", err, 403, "M_FORBIDDEN")
	// Users without power may not set state.
	must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
	_, err = bob.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "mine"})
	wantErr(t, "state without power", err, 403, "M_FORBIDDEN")
	// A room has one m.room.create event, its first (v12 here, where it
	// has no room_id), whatever the sender's power.
	_, err = alice.SendStateEvent(ctx, r.RoomID, mevent.StateCreate, "", map[string]any{"room_version": "12"})
	wantErr(t, "a second create event", err, 403, "M_FORBIDDEN")
	_, err = alice.SendMessageEvent(ctx, r.RoomID, mevent.StateCreate, map[string]any{})
	wantErr(t, "a create event sent as a message", err, 403, "M_FORBIDDEN")
	// A former member sees the state as it was when they left.
	must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, r.RoomID))
	must[*mautrix.RespSendEvent](t, "topic 3")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateTopic, "", map[string]any{"topic": "after bob"}))
	if err := bob.StateEvent(ctx, r.RoomID, mevent.StateTopic, "", &topic); err != nil || topic["topic"] != "second" {
		t.Errorf("former member sees topic %v, %v; want the one at their leave", topic, err)
	}
}

func TestRedact(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
	sent := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "secret"))

	_, err := bob.RedactEvent(ctx, r.RoomID, sent.EventID)
	wantErr(t, "redact another's event without power", err, 403, "M_FORBIDDEN")
	_, err = alice.RedactEvent(ctx, r.RoomID, "$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA")
	wantErr(t, "redact unknown event", err, 404, "M_NOT_FOUND")
	// Sending the redaction as a message event gets the same checks.
	_, err = bob.SendMessageEvent(ctx, r.RoomID, mevent.EventRedaction, map[string]any{"redacts": sent.EventID})
	wantErr(t, "redaction of another's event through /send", err, 403, "M_FORBIDDEN")
	_, err = alice.SendMessageEvent(ctx, r.RoomID, mevent.EventRedaction, map[string]any{})
	wantErr(t, "redaction without redacts through /send", err, 400, "M_BAD_JSON")
	red := must[*mautrix.RespSendEvent](t, "redact")(alice.RedactEvent(ctx, r.RoomID, sent.EventID, mautrix.ReqRedact{Reason: "oops"}))

	got := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(string(r.RoomID))+"/event/"+url.PathEscape(string(sent.EventID)), alice.AccessToken, nil)
	e.expect(got, 200, "")
	if c, _ := got.body["content"].(map[string]any); len(c) != 0 {
		t.Errorf("redacted content = %v, want {}", c)
	}
	unsigned, _ := got.body["unsigned"].(map[string]any)
	because, _ := unsigned["redacted_because"].(map[string]any)
	if because["event_id"] != string(red.EventID) {
		t.Errorf("unsigned.redacted_because = %v, want the redaction %s", unsigned["redacted_because"], red.EventID)
	}
	redEv := must[*mevent.Event](t, "get redaction")(alice.GetEvent(ctx, r.RoomID, red.EventID))
	if redEv.Redacts != sent.EventID {
		t.Errorf("top-level redacts = %q, want %s (v11+ copies it for clients)", redEv.Redacts, sent.EventID)
	}
}

// TestMessagesPagination walks a room back and forth in pages and checks
// that tokens never return an event twice and that the ends carry no end.
func TestMessagesPagination(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
	var sent []mid.EventID
	for i := range 23 {
		resp := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "m"+string(rune('a'+i))))
		sent = append(sent, resp.EventID)
	}

	walk := func(dir mautrix.Direction, from string, limit int) []mid.EventID {
		t.Helper()
		var all []mid.EventID
		seen := map[mid.EventID]bool{}
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatal("pagination does not end")
			}
			p := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, r.RoomID, from, "", dir, nil, limit))
			if from != "" && p.Start != from {
				t.Errorf("start = %q, want from %q", p.Start, from)
			}
			if len(p.Chunk) > limit {
				t.Fatalf("page of %d events, limit %d", len(p.Chunk), limit)
			}
			for _, ev := range p.Chunk {
				if seen[ev.ID] {
					t.Fatalf("event %s appears twice (dir %c)", ev.ID, dir)
				}
				seen[ev.ID] = true
				all = append(all, ev.ID)
			}
			if p.End == "" {
				return all
			}
			from = p.End
		}
	}
	back := walk(mautrix.DirectionBackward, "", 5)
	// The room's own events (create, member, power levels, join rules,
	// history visibility, guest access) come before the messages.
	if len(back) != len(sent)+6 {
		t.Fatalf("backwards: %d events, want %d", len(back), len(sent)+6)
	}
	for i, want := range sent {
		if got := back[len(sent)-1-i]; got != want {
			t.Errorf("backwards[%d] = %s, want %s (newest first)", len(sent)-1-i, got, want)
		}
	}
	fwd := walk(mautrix.DirectionForward, "", 4)
	if len(fwd) != len(back) {
		t.Fatalf("forwards: %d events, want %d", len(fwd), len(back))
	}
	for i := range fwd {
		if fwd[i] != back[len(back)-1-i] {
			t.Fatalf("forwards[%d] = %s, want the reverse of the backward walk", i, fwd[i])
		}
	}
	// A backward page that reaches the start of the room has no end.
	last := must[*mautrix.RespMessages](t, "all")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 100))
	if last.End != "" || len(last.Chunk) != len(back) {
		t.Errorf("one page of everything: %d events, end %q; want %d and no end", len(last.Chunk), last.End, len(back))
	}
	// A filter on type.
	f := &mautrix.FilterPart{Types: []mevent.Type{mevent.EventMessage}}
	only := must[*mautrix.RespMessages](t, "filtered")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, f, 100))
	if len(only.Chunk) != len(sent) {
		t.Errorf("types filter: %d events, want %d messages", len(only.Chunk), len(sent))
	}

	// Context around the 10th message.
	c := must[*mautrix.RespContext](t, "context")(alice.Context(ctx, r.RoomID, sent[10], nil, 6))
	if c.Event.ID != sent[10] || len(c.EventsBefore) != 3 || len(c.EventsAfter) != 3 {
		t.Fatalf("context: event %s, %d before, %d after; want %s, 3, 3", c.Event.ID, len(c.EventsBefore), len(c.EventsAfter), sent[10])
	}
	if c.EventsBefore[0].ID != sent[9] || c.EventsAfter[0].ID != sent[11] {
		t.Errorf("context neighbours = %s, %s; want %s, %s", c.EventsBefore[0].ID, c.EventsAfter[0].ID, sent[9], sent[11])
	}
	if len(c.State) == 0 {
		t.Error("context has no state")
	}
	// Paginating backwards from the context's start continues before it.
	p := must[*mautrix.RespMessages](t, "from context start")(alice.Messages(ctx, r.RoomID, c.Start, "", mautrix.DirectionBackward, nil, 1))
	if len(p.Chunk) != 1 || p.Chunk[0].ID != sent[6] {
		t.Errorf("page before context = %v, want %s", p.Chunk, sent[6])
	}
}

func TestMembersFilters(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	carol, _ := e.user("carol")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []mid.UserID{bob.UserID, carol.UserID}}))
	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
	before := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 1))
	must[*mautrix.RespLeaveRoom](t, "carol rejects")(carol.LeaveRoom(ctx, r.RoomID))

	tests := []struct {
		name string
		req  mautrix.ReqMembers
		want []mid.UserID
	}{
		{"all", mautrix.ReqMembers{}, []mid.UserID{alice.UserID, bob.UserID, carol.UserID}},
		{"membership=join", mautrix.ReqMembers{Membership: "join"}, []mid.UserID{alice.UserID, bob.UserID}},
		{"not_membership=join", mautrix.ReqMembers{NotMembership: "join"}, []mid.UserID{carol.UserID}},
		{"membership=leave", mautrix.ReqMembers{Membership: "leave"}, []mid.UserID{carol.UserID}},
		{"at before carol left: carol invited", mautrix.ReqMembers{At: before.Start, Membership: "invite"}, []mid.UserID{carol.UserID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := must[*mautrix.RespMembers](t, "members")(alice.Members(ctx, r.RoomID, tc.req))
			got := map[mid.UserID]bool{}
			for _, ev := range resp.Chunk {
				got[mid.UserID(*ev.StateKey)] = true
			}
			if len(got) != len(tc.want) {
				t.Fatalf("members = %v, want %v", got, tc.want)
			}
			for _, u := range tc.want {
				if !got[u] {
					t.Errorf("members = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestAliases(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))

	_, err := bob.CreateAlias(ctx, "#bobs:hafen.test", r.RoomID)
	wantErr(t, "alias by non-member", err, 403, "M_FORBIDDEN")
	must[*mautrix.RespAliasCreate](t, "create alias")(alice.CreateAlias(ctx, "#one:hafen.test", r.RoomID))
	_, err = alice.CreateAlias(ctx, "#one:hafen.test", r.RoomID)
	wantErr(t, "spec setRoomAlias: a taken alias is 409 M_UNKNOWN", err, 409, "M_UNKNOWN")
	_, err = alice.CreateAlias(ctx, "#one:elsewhere.test", r.RoomID)
	wantErr(t, "remote alias", err, 400, "M_INVALID_PARAM")
	res := must[*mautrix.RespAliasResolve](t, "resolve")(bob.ResolveAlias(ctx, "#one:hafen.test"))
	if res.RoomID != r.RoomID || len(res.Servers) != 1 || res.Servers[0] != "hafen.test" {
		t.Errorf("resolve = %+v", res)
	}
	list := must[*mautrix.RespAliasList](t, "aliases")(alice.GetAliases(ctx, r.RoomID))
	if len(list.Aliases) != 1 || list.Aliases[0] != "#one:hafen.test" {
		t.Errorf("aliases = %v", list.Aliases)
	}
	_, err = bob.GetAliases(ctx, r.RoomID)
	wantErr(t, "aliases of a room bob is not in", err, 403, "M_FORBIDDEN")
	_, err = bob.DeleteAlias(ctx, "#one:hafen.test")
	wantErr(t, "delete another's alias", err, 403, "M_FORBIDDEN")
	must[*mautrix.RespAliasDelete](t, "delete")(alice.DeleteAlias(ctx, "#one:hafen.test"))
	_, err = alice.ResolveAlias(ctx, "#one:hafen.test")
	wantErr(t, "resolve deleted", err, 404, "M_NOT_FOUND")
	_, err = alice.DeleteAlias(ctx, "#one:hafen.test")
	wantErr(t, "delete deleted", err, 404, "M_NOT_FOUND")
}

// TestHistoryVisibility follows Client-Server API § Room History
// Visibility: under "joined" a later member cannot read what came before
// their join, under "shared" they can, and "world_readable" rooms are
// readable by anyone.
func TestHistoryVisibility(t *testing.T) {
	for _, tc := range []struct {
		visibility  string
		bobSeesPast bool
	}{
		{"joined", false},
		{"invited", false},
		{"shared", true},
		{"world_readable", true},
	} {
		t.Run(tc.visibility, func(t *testing.T) {
			e := newRoomEnv(t)
			alice, _ := e.user("alice")
			bob, _ := e.user("bob")
			carol, _ := e.user("carol")
			ctx := context.Background()
			r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
			must[*mautrix.RespSendEvent](t, "visibility")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateHistoryVisibility, "",
				map[string]any{"history_visibility": tc.visibility}))
			past := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "before bob"))
			must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
			now := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "after bob"))

			msgs := must[*mautrix.RespMessages](t, "messages")(bob.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 100))
			seen := map[mid.EventID]bool{}
			for _, ev := range msgs.Chunk {
				seen[ev.ID] = true
			}
			if !seen[now.EventID] {
				t.Errorf("bob does not see the message sent after his join")
			}
			if seen[past.EventID] != tc.bobSeesPast {
				t.Errorf("bob sees the earlier message: %v, want %v", seen[past.EventID], tc.bobSeesPast)
			}
			if msgs.End != "" {
				t.Errorf("end = %q, want none at the start of what bob may see", msgs.End)
			}
			_, err := bob.GetEvent(ctx, r.RoomID, past.EventID)
			if tc.bobSeesPast && err != nil {
				t.Errorf("GET /event of a visible event: %v", err)
			}
			if !tc.bobSeesPast {
				wantErr(t, "GET /event before join", err, 404, "M_NOT_FOUND")
				_, err = bob.Context(ctx, r.RoomID, past.EventID, nil, 4)
				wantErr(t, "context before join", err, 404, "M_NOT_FOUND")
			}

			// carol never joined.
			_, err = carol.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 10)
			if tc.visibility == "world_readable" {
				if err != nil {
					t.Errorf("world_readable messages for a non-member: %v", err)
				}
			} else {
				wantErr(t, "messages for a non-member", err, 403, "M_FORBIDDEN")
			}
			// joined_members: "The current user must be in the room",
			// world_readable or not.
			_, err = carol.JoinedMembers(ctx, r.RoomID)
			wantErr(t, "joined_members for a non-member", err, 403, "M_FORBIDDEN")

			// After bob leaves he no longer sees new messages (unless the
			// room is world_readable).
			must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, r.RoomID))
			later := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "after bob left"))
			msgs = must[*mautrix.RespMessages](t, "messages after leave")(bob.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 100))
			seen = map[mid.EventID]bool{}
			for _, ev := range msgs.Chunk {
				seen[ev.ID] = true
			}
			if seen[later.EventID] != (tc.visibility == "world_readable") {
				t.Errorf("bob sees a message sent after he left: %v", seen[later.EventID])
			}
			if !seen[now.EventID] {
				t.Errorf("bob no longer sees what he saw while joined")
			}
		})
	}
}

func TestProfile(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))

	if err := alice.SetDisplayName(ctx, "Alice W."); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAvatarURL(ctx, mid.ContentURI{Homeserver: "hafen.test", FileID: "abc"}); err != nil {
		t.Fatal(err)
	}
	p := must[*mautrix.RespUserProfile](t, "profile")(bob.GetProfile(ctx, alice.UserID))
	if p.DisplayName != "Alice W." || p.AvatarURL.String() != "mxc://hafen.test/abc" {
		t.Errorf("profile = %+v", p)
	}
	dn := must[*mautrix.RespUserDisplayName](t, "displayname")(bob.GetDisplayName(ctx, alice.UserID))
	if dn.DisplayName != "Alice W." {
		t.Errorf("displayname = %q", dn.DisplayName)
	}
	// The join event in alice's room carries the new profile.
	e.drainProfiles()
	var member mevent.MemberEventContent
	if err := alice.StateEvent(ctx, r.RoomID, mevent.StateMember, string(alice.UserID), &member); err != nil {
		t.Fatal(err)
	}
	if member.Displayname != "Alice W." || member.Membership != "join" {
		t.Errorf("member event = %+v, want the new displayname", member)
	}
	_, err := bob.GetProfile(ctx, "@nobody:hafen.test")
	wantErr(t, "unknown user", err, 404, "M_NOT_FOUND")
	res := e.do("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(string(alice.UserID))+"/displayname", bob.AccessToken, map[string]any{"displayname": "evil"})
	e.expect(res, 403, "M_FORBIDDEN")
	res = e.do("DELETE", "/_matrix/client/v3/profile/"+url.PathEscape(string(alice.UserID))+"/displayname", alice.AccessToken, nil)
	e.expect(res, 200, "")
	res = e.do("GET", "/_matrix/client/v3/profile/"+url.PathEscape(string(alice.UserID))+"/displayname", "", nil)
	e.expect(res, 404, "M_NOT_FOUND")
}

// TestMalformedRequests: every malformed input gets its 4xx, never a 500.
func TestMalformedRequests(t *testing.T) {
	e := newRoomEnv(t)
	alice, tok := e.user("alice")
	ctx := context.Background()
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
	room := "/_matrix/client/v3/rooms/" + url.PathEscape(string(r.RoomID))
	big := strings.Repeat("x", 70000)
	almost := strings.Repeat("x", 65400) // under the body limit, over the event limit once signed
	tests := []struct {
		name, method, path string
		body               any
		status             int
		errcode            string
	}{
		{"createRoom: not JSON", "POST", "/_matrix/client/v3/createRoom", "{nope", 400, "M_NOT_JSON"},
		{"createRoom: array body", "POST", "/_matrix/client/v3/createRoom", "[]", 400, "M_BAD_JSON"},
		{"createRoom: visibility of wrong type", "POST", "/_matrix/client/v3/createRoom", `{"visibility":1}`, 400, "M_BAD_JSON"},
		{"createRoom: unknown visibility", "POST", "/_matrix/client/v3/createRoom", `{"visibility":"secret"}`, 400, "M_BAD_JSON"},
		{"createRoom: unknown preset", "POST", "/_matrix/client/v3/createRoom", `{"preset":"party"}`, 400, "M_BAD_JSON"},
		{"createRoom: room_version of wrong type", "POST", "/_matrix/client/v3/createRoom", `{"room_version":12}`, 400, "M_BAD_JSON"},
		{"createRoom: invalid invitee", "POST", "/_matrix/client/v3/createRoom", `{"invite":["bob"]}`, 400, "M_INVALID_PARAM"},
		{"createRoom: alias name with colon", "POST", "/_matrix/client/v3/createRoom", `{"room_alias_name":"a:b"}`, 400, "M_INVALID_PARAM"},
		{"createRoom: initial_state without type", "POST", "/_matrix/client/v3/createRoom", `{"initial_state":[{"content":{}}]}`, 400, "M_BAD_JSON"},
		{"createRoom: initial_state content not an object", "POST", "/_matrix/client/v3/createRoom", `{"initial_state":[{"type":"m.room.topic","content":"x"}]}`, 400, "M_BAD_JSON"},
		{"createRoom: creation_content not an object", "POST", "/_matrix/client/v3/createRoom", `{"creation_content":[]}`, 400, "M_BAD_JSON"},
		{"createRoom: m.federate not a boolean", "POST", "/_matrix/client/v3/createRoom", `{"creation_content":{"m.federate":"x"}}`, 400, "M_BAD_JSON"},
		{"createRoom: room type not a string", "POST", "/_matrix/client/v3/createRoom", `{"creation_content":{"type":5}}`, 400, "M_BAD_JSON"},
		{"createRoom: power override not an object", "POST", "/_matrix/client/v3/createRoom", `{"power_level_content_override":5}`, 400, "M_BAD_JSON"},
		{"createRoom: unknown room version", "POST", "/_matrix/client/v3/createRoom", `{"room_version":"1.0"}`, 400, "M_UNSUPPORTED_ROOM_VERSION"},
		{"createRoom: power override breaking the auth rules", "POST", "/_matrix/client/v3/createRoom", `{"power_level_content_override":{"users":"x"}}`, 400, "M_INVALID_ROOM_STATE"},
		{"createRoom: additional_creators not a list", "POST", "/_matrix/client/v3/createRoom", `{"creation_content":{"additional_creators":"x"}}`, 400, "M_BAD_JSON"},
		{"createRoom: initial_state with a member event", "POST", "/_matrix/client/v3/createRoom", `{"initial_state":[{"type":"m.room.member","state_key":"@alice:hafen.test","content":{}}]}`, 400, "M_INVALID_ROOM_STATE"},
		{"createRoom: invite to another server", "POST", "/_matrix/client/v3/createRoom", `{"invite":["@bob:other.test"]}`, 403, "M_FORBIDDEN"},
		{"createRoom: name of wrong type", "POST", "/_matrix/client/v3/createRoom", `{"name":5}`, 400, "M_BAD_JSON"},
		{"send: invalid room ID", "PUT", "/_matrix/client/v3/rooms/notaroom/send/m.room.message/t1", `{}`, 400, "M_INVALID_PARAM"},
		{"send: body not an object", "PUT", room + "/send/m.room.message/t2", `"hi"`, 400, "M_BAD_JSON"},
		{"send: body not JSON", "PUT", room + "/send/m.room.message/t3", `{`, 400, "M_NOT_JSON"},
		{"send: body over 65536 bytes", "PUT", room + "/send/m.room.message/t4", map[string]any{"body": big}, 413, "M_TOO_LARGE"},
		{"send: event over 65536 bytes once built", "PUT", room + "/send/m.room.message/t5", map[string]any{"body": almost}, 413, "M_TOO_LARGE"},
		{"send: type over 255 bytes", "PUT", room + "/send/" + strings.Repeat("t", 256) + "/t6", `{}`, 400, "M_INVALID_PARAM"},
		{"send: float in content", "PUT", room + "/send/m.room.message/t7", `{"n":1.5}`, 400, "M_BAD_JSON"},
		{"send: unknown room", "PUT", "/_matrix/client/v3/rooms/!nope:hafen.test/send/m.room.message/t8", `{}`, 404, "M_NOT_FOUND"},
		{"state: invalid format", "GET", room + "/state/m.room.create/?format=xml", nil, 400, "M_INVALID_PARAM"},
		{"state: state key over 255 bytes", "PUT", room + "/state/m.room.topic/" + strings.Repeat("k", 256), `{}`, 400, "M_INVALID_PARAM"},
		{"invite: no user_id", "POST", room + "/invite", `{}`, 400, "M_MISSING_PARAM"},
		{"invite: user_id of wrong type", "POST", room + "/invite", `{"user_id":5}`, 400, "M_BAD_JSON"},
		{"invite: invalid user_id", "POST", room + "/invite", `{"user_id":"bob"}`, 400, "M_INVALID_PARAM"},
		{"kick: body not JSON", "POST", room + "/kick", `nope`, 400, "M_NOT_JSON"},
		{"join: neither ID nor alias", "POST", "/_matrix/client/v3/join/lobby", `{}`, 400, "M_INVALID_PARAM"},
		{"join: invalid alias", "POST", "/_matrix/client/v3/join/%23lobby", `{}`, 400, "M_INVALID_PARAM"},
		{"join: reason of wrong type", "POST", room + "/join", `{"reason":1}`, 400, "M_BAD_JSON"},
		{"messages: no dir", "GET", room + "/messages", nil, 400, "M_MISSING_PARAM"},
		{"messages: bad dir", "GET", room + "/messages?dir=x", nil, 400, "M_INVALID_PARAM"},
		{"messages: bad from", "GET", room + "/messages?dir=b&from=garbage", nil, 400, "M_INVALID_PARAM"},
		{"messages: negative from", "GET", room + "/messages?dir=b&from=s-1", nil, 400, "M_INVALID_PARAM"},
		{"messages: bad limit", "GET", room + "/messages?dir=b&limit=-1", nil, 400, "M_INVALID_PARAM"},
		{"messages: limit not a number", "GET", room + "/messages?dir=b&limit=ten", nil, 400, "M_INVALID_PARAM"},
		{"messages: filter not JSON", "GET", room + "/messages?dir=b&filter=" + url.QueryEscape("{nope"), nil, 400, "M_BAD_JSON"},
		{"messages: filter of wrong types", "GET", room + "/messages?dir=b&filter=" + url.QueryEscape(`{"types":"m.room.message"}`), nil, 400, "M_BAD_JSON"},
		{"event: invalid event ID", "GET", room + "/event/nope", nil, 400, "M_INVALID_PARAM"},
		{"event: unknown event", "GET", room + "/event/" + url.PathEscape("$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA"), nil, 404, "M_NOT_FOUND"},
		{"context: invalid event ID", "GET", room + "/context/nope", nil, 400, "M_INVALID_PARAM"},
		{"context: bad limit", "GET", room + "/context/" + url.PathEscape("$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA") + "?limit=x", nil, 400, "M_INVALID_PARAM"},
		{"members: bad membership", "GET", room + "/members?membership=member", nil, 400, "M_INVALID_PARAM"},
		{"members: bad at", "GET", room + "/members?at=yesterday", nil, 400, "M_INVALID_PARAM"},
		{"redact: invalid event ID", "PUT", room + "/redact/nope/t9", `{}`, 400, "M_INVALID_PARAM"},
		{"redact: reason of wrong type", "PUT", room + "/redact/" + url.PathEscape("$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA") + "/t10", `{"reason":[]}`, 400, "M_BAD_JSON"},
		{"directory: invalid alias", "GET", "/_matrix/client/v3/directory/room/lobby", nil, 400, "M_INVALID_PARAM"},
		{"directory: put without room_id", "PUT", "/_matrix/client/v3/directory/room/%23a:hafen.test", `{}`, 400, "M_MISSING_PARAM"},
		{"directory: put invalid room_id", "PUT", "/_matrix/client/v3/directory/room/%23a:hafen.test", `{"room_id":"x"}`, 400, "M_INVALID_PARAM"},
		{"directory: put unknown room", "PUT", "/_matrix/client/v3/directory/room/%23a:hafen.test", `{"room_id":"!x:hafen.test"}`, 404, "M_NOT_FOUND"},
		{"aliases: invalid room ID", "GET", "/_matrix/client/v3/rooms/x/aliases", nil, 400, "M_INVALID_PARAM"},
		{"profile: invalid user ID", "GET", "/_matrix/client/v3/profile/alice", nil, 400, "M_INVALID_PARAM"},
		{"profile: invalid key", "GET", "/_matrix/client/v3/profile/%40alice:hafen.test/Bad-Key", nil, 400, "M_INVALID_PARAM"},
		{"profile: key over 255 bytes", "PUT", "/_matrix/client/v3/profile/%40alice:hafen.test/a." + strings.Repeat("b", 300), `{}`, 400, "M_KEY_TOO_LARGE"},
		{"profile: value missing", "PUT", "/_matrix/client/v3/profile/%40alice:hafen.test/displayname", `{}`, 400, "M_MISSING_PARAM"},
		{"profile: value of wrong type", "PUT", "/_matrix/client/v3/profile/%40alice:hafen.test/displayname", `{"displayname":5}`, 400, "M_BAD_JSON"},
		{"profile: avatar not mxc", "PUT", "/_matrix/client/v3/profile/%40alice:hafen.test/avatar_url", `{"avatar_url":"https://x"}`, 400, "M_INVALID_PARAM"},
		{"no token", "GET", "/_matrix/client/v3/joined_rooms", nil, 401, "M_MISSING_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := tok
			if tc.name == "no token" {
				token = ""
			}
			res := e.do(tc.method, tc.path, token, tc.body)
			if res.status >= 500 {
				t.Fatalf("%s %s: server error %d %s", tc.method, tc.path, res.status, res.raw)
			}
			if res.status != tc.status || res.str("errcode") != tc.errcode {
				t.Errorf("%s %s = %d %s, want %d %s (%s)", tc.method, tc.path, res.status, res.str("errcode"), tc.status, tc.errcode, res.raw)
			}
		})
	}
	// Nothing above reached the room: it still has only its initial events.
	msgs := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, r.RoomID, "", "", mautrix.DirectionBackward, nil, 100))
	for _, ev := range msgs.Chunk {
		if ev.Type == mevent.EventMessage {
			raw, _ := json.Marshal(ev.Content.Raw)
			t.Errorf("a malformed request sent an event: %s", raw)
		}
	}
}

func TestKnock(t *testing.T) {
	e := newRoomEnv(t)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	ctx := context.Background()
	must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "closed"}))
	_, err := bob.KnockRoom(ctx, "#closed:hafen.test", nil)
	wantErr(t, "knock on an invite-only room", err, 403, "M_FORBIDDEN")

	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		RoomAliasName: "knockable",
		InitialState: []*mevent.Event{{
			Type: mevent.StateJoinRules, StateKey: new(string),
			Content: mevent.Content{Raw: map[string]any{"join_rule": "knock"}},
		}},
	}))
	k := must[*mautrix.RespKnockRoom](t, "knock")(bob.KnockRoom(ctx, "#knockable:hafen.test", &mautrix.ReqKnockRoom{Reason: "let me in"}))
	if k.RoomID != r.RoomID {
		t.Errorf("knock returned %s, want %s", k.RoomID, r.RoomID)
	}
	ms := must[*mautrix.RespMembers](t, "members")(alice.Members(ctx, r.RoomID, mautrix.ReqMembers{Membership: "knock"}))
	if len(ms.Chunk) != 1 || *ms.Chunk[0].StateKey != string(bob.UserID) {
		t.Fatalf("knocking members = %v, want bob", ms.Chunk)
	}
	if reason, _ := ms.Chunk[0].Content.Raw["reason"].(string); reason != "let me in" {
		t.Errorf("knock reason = %q", reason)
	}
	must[*mautrix.RespInviteUser](t, "accept knock")(alice.InviteUser(ctx, r.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}))
	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
}

// TestRoomActionsAreRateLimited: sending is limited per user (spec: "Rate
// limiting", 429 M_LIMIT_EXCEEDED with retry_after_ms); another user keeps
// their own budget.
func TestRoomActionsAreRateLimited(t *testing.T) {
	e := newRoomEnv(t)
	ctx := context.Background()
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
	must[*mautrix.RespJoinRoom](t, "join")(bob.JoinRoomByID(ctx, r.RoomID))
	// A budget of 2 messages that refills once every 1000 seconds.
	e.srv.Limiter = httpapi.NewRateLimiter(map[string]httpapi.Rate{ActionMessage: {PerSecond: 0.001, Burst: 2}})
	for i := range 2 {
		if _, err := alice.SendText(ctx, r.RoomID, strings.Repeat("x", i+1)); err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
	}
	_, err := alice.SendText(ctx, r.RoomID, "one too many")
	wantErr(t, "third send", err, 429, "M_LIMIT_EXCEEDED")
	if _, err := bob.SendText(ctx, r.RoomID, "bob's own budget"); err != nil {
		t.Errorf("another user's send was limited: %v", err)
	}
}
