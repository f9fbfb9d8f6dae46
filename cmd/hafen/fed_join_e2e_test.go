package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// makeResp is the answer to make_join and make_leave.
type makeResp struct {
	RoomVersion string `json:"room_version"`
	Event       struct {
		Type           string          `json:"type"`
		StateKey       *string         `json:"state_key"`
		Sender         id.UserID       `json:"sender"`
		RoomID         id.RoomID       `json:"room_id"`
		Content        json.RawMessage `json:"content"`
		PrevEvents     []id.EventID    `json:"prev_events"`
		AuthEvents     []id.EventID    `json:"auth_events"`
		Depth          int64           `json:"depth"`
		OriginServerTS int64           `json:"origin_server_ts"`
	} `json:"event"`
}

// fromTemplate builds and signs the peer's event from a make_* template,
// as the joining server does.
func (p *fedPeer) fromTemplate(t *testing.T, m makeResp) *event.PDU {
	t.Helper()
	v, ok := roomversion.Lookup(roomversion.ID(m.RoomVersion))
	if !ok {
		t.Fatalf("template of unknown room version %q", m.RoomVersion)
	}
	e := m.Event
	pdu, err := event.Build(event.Proto{
		Type: e.Type, StateKey: e.StateKey, Sender: e.Sender, RoomID: e.RoomID, Content: e.Content,
		PrevEvents: e.PrevEvents, AuthEvents: e.AuthEvents, Depth: e.Depth, OriginServerTS: e.OriginServerTS,
	}, v, p.key)
	if err != nil {
		t.Fatalf("build from template: %v", err)
	}
	return pdu
}

// allVersions is the ver list of a server that supports every room
// version of Hafen's that the test peer can build (v3+).
func allVersions() string {
	q := url.Values{}
	for _, v := range []string{"3", "4", "5", "6", "7", "8", "9", "10", "11", "12"} {
		q.Add("ver", v)
	}
	return q.Encode()
}

// sendJoinResp is the answer to send_join v2.
type sendJoinResp struct {
	State          []json.RawMessage `json:"state"`
	AuthChain      []json.RawMessage `json:"auth_chain"`
	Event          json.RawMessage   `json:"event"`
	MembersOmitted *bool             `json:"members_omitted"`
}

// TestFederationJoinEndToEnd lets users of B join and leave rooms of A
// through make_join/send_join and make_leave/send_leave, B building and
// signing the events itself: a public room, then a restricted room whose
// join A authorises and signs. Room version negotiation, joins of users of
// other servers, events that do not match the request and a server the
// room's ACL denies are refused.
func TestFederationJoinEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := newFedPeer(t, startFedServer(t))
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			roomID := createPublicRoom(t, a.base, tok)
			rq := url.PathEscape(string(roomID))
			bob := id.UserID("@bob:" + string(b.name))

			// Version negotiation.
			var m makeResp
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape(string(bob))+"?ver=1&ver=2", nil, nil); st != 400 || code != "M_INCOMPATIBLE_ROOM_VERSION" {
				t.Errorf("make_join with ver=1,2 = %d %s, want 400 M_INCOMPATIBLE_ROOM_VERSION", st, code)
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape("@carol:elsewhere.example")+"?"+allVersions(), nil, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("make_join for a user of another server = %d %s, want 403 M_FORBIDDEN", st, code)
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape(string(bob))+"?"+allVersions(), nil, &m); st != 200 {
				t.Fatalf("make_join = %d %s", st, code)
			}
			if m.Event.Type != "m.room.member" || m.Event.Sender != bob || m.Event.StateKey == nil || *m.Event.StateKey != string(bob) || len(m.Event.PrevEvents) == 0 {
				t.Fatalf("make_join template = %+v", m.Event)
			}
			join := b.fromTemplate(t, m)

			// Events that do not match the request.
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/send_join/"+rq+"/"+url.PathEscape("$someotherevent0someotherevent0someotherevnt"), join.JSON(), nil); st != 400 || code != "M_INVALID_PARAM" {
				t.Errorf("send_join under another event ID = %d %s, want 400 M_INVALID_PARAM", st, code)
			}
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/send_leave/"+rq+"/"+url.PathEscape(string(join.EventID())), join.JSON(), nil); st != 400 || code != "M_INVALID_PARAM" {
				t.Errorf("a join sent to send_leave = %d %s, want 400 M_INVALID_PARAM", st, code)
			}

			var sj sendJoinResp
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/send_join/"+rq+"/"+url.PathEscape(string(join.EventID())), join.JSON(), &sj); st != 200 {
				t.Fatalf("send_join = %d %s", st, code)
			}
			if len(sj.State) < 5 || len(sj.AuthChain) < 3 || sj.MembersOmitted == nil || *sj.MembersOmitted {
				t.Errorf("send_join: %d state events, %d auth events, members_omitted %v", len(sj.State), len(sj.AuthChain), sj.MembersOmitted)
			}
			for _, e := range sj.State {
				var se struct {
					StateKey string `json:"state_key"`
				}
				json.Unmarshal(e, &se)
				if se.StateKey == string(bob) {
					t.Errorf("send_join: the state before the join holds bob's join")
				}
			}
			if _, ok := timelineOf(t, a.base, tok, roomID)[join.EventID()]; !ok {
				t.Fatalf("bob's join over send_join is not in alice's timeline")
			}

			// A restricted room that allows members of the first room.
			restricted := createRestrictedRoom(t, a.base, tok, roomID)
			r2 := url.PathEscape(string(restricted))
			carol := id.UserID("@carol:" + string(b.name))
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+r2+"/"+url.PathEscape(string(carol))+"?"+allVersions(), nil, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("restricted make_join for a user in no allowed room = %d %s, want 403 M_FORBIDDEN", st, code)
			}
			m = makeResp{}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+r2+"/"+url.PathEscape(string(bob))+"?"+allVersions(), nil, &m); st != 200 {
				t.Fatalf("restricted make_join = %d %s", st, code)
			}
			var content struct {
				Authoriser id.UserID `json:"join_authorised_via_users_server"`
			}
			json.Unmarshal(m.Event.Content, &content)
			if string(content.Authoriser) != alice.UserID.String() {
				t.Fatalf("restricted make_join: authoriser %q, want %s", content.Authoriser, alice.UserID)
			}
			rjoin := b.fromTemplate(t, m)
			sj = sendJoinResp{}
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/send_join/"+r2+"/"+url.PathEscape(string(rjoin.EventID())), rjoin.JSON(), &sj); st != 200 {
				t.Fatalf("restricted send_join = %d %s", st, code)
			}
			var signed struct {
				Signatures map[id.ServerName]map[string]string `json:"signatures"`
			}
			json.Unmarshal(sj.Event, &signed)
			if len(signed.Signatures[a.name]) != 1 || len(signed.Signatures[b.name]) != 1 {
				t.Errorf("restricted send_join: event signed by %v, want A and B", signed.Signatures)
			}
			if _, ok := timelineOf(t, a.base, tok, restricted)[rjoin.EventID()]; !ok {
				t.Errorf("bob's restricted join is not in alice's timeline")
			}

			// A restricted room that allows only a room A is not in: A cannot
			// tell whether bob may join.
			elsewhere := createRestrictedRoom(t, a.base, tok, "!nowhere:elsewhere.example")
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+url.PathEscape(string(elsewhere))+"/"+url.PathEscape(string(bob))+"?"+allVersions(), nil, nil); st != 400 || code != "M_UNABLE_TO_AUTHORISE_JOIN" {
				t.Errorf("restricted make_join allowed only by a room A is not in = %d %s, want 400 M_UNABLE_TO_AUTHORISE_JOIN", st, code)
			}

			// Bob leaves the first room.
			m = makeResp{}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_leave/"+rq+"/"+url.PathEscape(string(bob)), nil, &m); st != 200 {
				t.Fatalf("make_leave = %d %s", st, code)
			}
			leave := b.fromTemplate(t, m)
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v2/send_leave/"+rq+"/"+url.PathEscape(string(leave.EventID())), leave.JSON(), &struct{}{}); st != 200 {
				t.Fatalf("send_leave = %d %s", st, code)
			}
			var members struct {
				Chunk []struct {
					StateKey string `json:"state_key"`
					Content  struct {
						Membership string `json:"membership"`
					} `json:"content"`
				} `json:"chunk"`
			}
			csCall(t, a.base, tok, http.MethodGet, "/_matrix/client/v3/rooms/"+rq+"/members", nil, &members)
			if !slices.ContainsFunc(members.Chunk, func(c struct {
				StateKey string `json:"state_key"`
				Content  struct {
					Membership string `json:"membership"`
				} `json:"content"`
			}) bool {
				return c.StateKey == string(bob) && c.Content.Membership == "leave"
			}) {
				t.Errorf("after send_leave, bob's membership is not leave: %+v", members.Chunk)
			}

			// The ACL denies IP literals: B may not join again.
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/state/m.room.server_acl/", map[string]any{"allow": []string{"*"}, "allow_ip_literals": false}, &struct{}{})
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape(string(bob))+"?"+allVersions(), nil, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("make_join of a server the ACL denies = %d %s, want 403 M_FORBIDDEN", st, code)
			}
		})
	}
}

// TestFederationKnockEndToEnd lets a user of B knock on a room of A whose
// join rule is knock, through make_knock/send_knock, B building and
// signing the event: A answers with the room's stripped state as PDUs
// and the knock reaches alice's timeline. Unsupported room versions are
// refused.
func TestFederationKnockEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := newFedPeer(t, startFedServer(t))
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			var cr struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, tok, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
				"preset": "private_chat", "name": "Knock here",
				"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}},
			}, &cr)
			rq := url.PathEscape(string(cr.RoomID))
			carol := id.UserID("@carol:" + string(b.name))
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_knock/"+rq+"/"+url.PathEscape(string(carol))+"?ver=1", nil, nil); st != 400 || code != "M_INCOMPATIBLE_ROOM_VERSION" {
				t.Errorf("make_knock with ver=1 = %d %s, want 400 M_INCOMPATIBLE_ROOM_VERSION", st, code)
			}
			var m makeResp
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/make_knock/"+rq+"/"+url.PathEscape(string(carol))+"?"+allVersions(), nil, &m); st != 200 {
				t.Fatalf("make_knock = %d %s", st, code)
			}
			knock := b.fromTemplate(t, m)
			var resp struct {
				KnockRoomState []struct {
					Type    string          `json:"type"`
					Content json.RawMessage `json:"content"`
				} `json:"knock_room_state"`
			}
			if st, code := b.fedGet(t, a.name, "PUT", "/_matrix/federation/v1/send_knock/"+rq+"/"+url.PathEscape(string(knock.EventID())), knock.JSON(), &resp); st != 200 {
				t.Fatalf("send_knock = %d %s", st, code)
			}
			var types []string
			for _, e := range resp.KnockRoomState {
				types = append(types, e.Type)
			}
			if !slices.Contains(types, "m.room.create") || !slices.Contains(types, "m.room.join_rules") || !slices.Contains(types, "m.room.name") {
				t.Errorf("knock_room_state types = %v, want create, join rules and name", types)
			}
			if _, ok := timelineOf(t, a.base, tok, cr.RoomID)[knock.EventID()]; !ok {
				t.Errorf("carol's knock is not in alice's timeline")
			}
		})
	}
}

// createRestrictedRoom creates a public room whose join rule is
// restricted to the members of allow, and returns its ID.
func createRestrictedRoom(t *testing.T, base, token string, allow id.RoomID) id.RoomID {
	t.Helper()
	var resp struct {
		RoomID id.RoomID `json:"room_id"`
	}
	csCall(t, base, token, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
		"preset": "public_chat",
		"initial_state": []any{map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{
			"join_rule": "restricted", "allow": []any{map[string]any{"type": "m.room_membership", "room_id": allow}},
		}}},
	}, &resp)
	return resp.RoomID
}
