package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
)

// fedGet makes a signed request of the peer and decodes the answer; it
// returns the status and errcode (200 and "" on success).
func (p *fedPeer) fedGet(t *testing.T, dest id.ServerName, method, path string, body any, out any) (int, string) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(body)
	}
	resp, err := p.client.Do(context.Background(), federation.Request{Destination: dest, Method: method, Path: path, Body: raw})
	if err != nil {
		return httpStatus(err)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, resp, err)
		}
	}
	return 200, ""
}

// sendMessage sends a text message as a client and returns its event ID.
func sendMessage(t *testing.T, base, token string, roomID id.RoomID, txnID, body string) id.EventID {
	t.Helper()
	var resp struct {
		EventID id.EventID `json:"event_id"`
	}
	csCall(t, base, token, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/send/m.room.message/"+txnID,
		map[string]any{"msgtype": "m.text", "body": body}, &resp)
	return resp.EventID
}

// joinOverSend makes the peer's user join a public room of A by sending
// the join in a transaction.
func joinOverSend(t *testing.T, a *fedServer, p *fedPeer, token string, roomID id.RoomID, user id.UserID) id.EventID {
	t.Helper()
	rv := viewRoom(t, a.base, token, roomID)
	sk := string(user)
	join := p.build(t, rv, user, "m.room.member", &sk, `{"membership":"join"}`)
	ans := sendOK(t, p, a.name, "join-"+string(join.EventID()), join.JSON())
	if r := ans.PDUs[join.EventID()]; r.Error != nil {
		t.Fatalf("join of %s: %s", user, *r.Error)
	}
	return join.EventID()
}

// TestFederationServesEventsEndToEnd asks A for events, state, auth
// chains and history over federation: B, whose user bob is in the room,
// gets them; C, with no user in the room, sees nothing of a room whose
// history is shared (and gets redacted events from backfill) but sees
// what is world readable; once the room's ACL denies IP literals, B is
// refused on the room-scoped endpoints.
func TestFederationServesEventsEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := newFedPeer(t, startFedServer(t))
			c := newFedPeer(t, startFedServer(t))
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			roomID := createPublicRoom(t, a.base, tok)
			rq := url.PathEscape(string(roomID))
			createID := viewRoom(t, a.base, tok, roomID).state[stateKey("m.room.create", "")]
			m1 := sendMessage(t, a.base, tok, roomID, "m1", "secret history")
			bob := id.UserID("@bob:" + string(b.name))
			joinOverSend(t, a, b, tok, roomID, bob)

			// /event
			var tx struct {
				Origin id.ServerName     `json:"origin"`
				PDUs   []json.RawMessage `json:"pdus"`
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(string(m1)), nil, &tx); st != 200 {
				t.Fatalf("B: GET /event = %d %s", st, code)
			}
			if tx.Origin != a.name || len(tx.PDUs) != 1 || !bytes.Contains(tx.PDUs[0], []byte("secret history")) {
				t.Errorf("B: GET /event = %s %s, want m1 from %s", tx.Origin, tx.PDUs, a.name)
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/event/"+url.PathEscape("$unknownunknownunknownunknownunknownunknown0"), nil, nil); st != 404 || code != "M_NOT_FOUND" {
				t.Errorf("B: GET /event of an unknown event = %d %s, want 404 M_NOT_FOUND", st, code)
			}

			// /state_ids, /state and /event_auth at m1.
			var ids struct {
				PDUIDs       []id.EventID `json:"pdu_ids"`
				AuthChainIDs []id.EventID `json:"auth_chain_ids"`
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/state_ids/"+rq+"?event_id="+url.QueryEscape(string(m1)), nil, &ids); st != 200 {
				t.Fatalf("B: GET /state_ids = %d %s", st, code)
			}
			if !slices.Contains(ids.PDUIDs, createID) || !slices.Contains(ids.AuthChainIDs, createID) || slices.Contains(ids.PDUIDs, m1) {
				t.Errorf("B: /state_ids at m1 = %v / auth chain %v; want the create event in both and not m1", ids.PDUIDs, ids.AuthChainIDs)
			}
			var full struct {
				PDUs      []json.RawMessage `json:"pdus"`
				AuthChain []json.RawMessage `json:"auth_chain"`
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/state/"+rq+"?event_id="+url.QueryEscape(string(m1)), nil, &full); st != 200 {
				t.Fatalf("B: GET /state = %d %s", st, code)
			}
			if len(full.PDUs) != len(ids.PDUIDs) || len(full.AuthChain) != len(ids.AuthChainIDs) {
				t.Errorf("B: /state has %d pdus and %d auth events, /state_ids %d and %d", len(full.PDUs), len(full.AuthChain), len(ids.PDUIDs), len(ids.AuthChainIDs))
			}
			var auth struct {
				AuthChain []json.RawMessage `json:"auth_chain"`
			}
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/event_auth/"+rq+"/"+url.PathEscape(string(m1)), nil, &auth); st != 200 || len(auth.AuthChain) < 3 {
				t.Errorf("B: GET /event_auth = %d %s with %d events, want at least create, power levels and alice's join", st, code, len(auth.AuthChain))
			}

			// /backfill from m1 and /get_missing_events up to m1.
			if st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/backfill/"+rq+"?v="+url.QueryEscape(string(m1))+"&limit=3", nil, &tx); st != 200 {
				t.Fatalf("B: GET /backfill = %d %s", st, code)
			}
			if len(tx.PDUs) != 3 || !bytes.Contains(tx.PDUs[0], []byte("secret history")) {
				t.Errorf("B: /backfill from m1 = %d events, first %s; want 3 starting with m1", len(tx.PDUs), first(tx.PDUs))
			}
			for _, bad := range []string{"0", "-3", "three", ""} {
				st, code := b.fedGet(t, a.name, "GET", "/_matrix/federation/v1/backfill/"+rq+"?v="+url.QueryEscape(string(m1))+"&limit="+bad, nil, nil)
				if want := "M_INVALID_PARAM"; bad == "" {
					want = "M_MISSING_PARAM"
					if st != 400 || code != want {
						t.Errorf("B: GET /backfill without a limit = %d %s, want 400 %s", st, code, want)
					}
				} else if st != 400 || code != want {
					t.Errorf("B: GET /backfill with limit %q = %d %s, want 400 %s", bad, st, code, want)
				}
			}
			var missing struct {
				Events []json.RawMessage `json:"events"`
			}
			gme := map[string]any{"earliest_events": []id.EventID{createID}, "latest_events": []id.EventID{m1}, "limit": 5}
			if st, code := b.fedGet(t, a.name, "POST", "/_matrix/federation/v1/get_missing_events/"+rq, gme, &missing); st != 200 {
				t.Fatalf("B: POST /get_missing_events = %d %s", st, code)
			}
			depths := make([]int64, len(missing.Events))
			for i, e := range missing.Events {
				var d struct {
					Depth int64  `json:"depth"`
					Type  string `json:"type"`
				}
				json.Unmarshal(e, &d)
				depths[i] = d.Depth
				if d.Type == "m.room.create" || bytes.Contains(e, []byte("secret history")) {
					t.Errorf("get_missing_events returned an earliest or latest event: %s", e)
				}
			}
			if len(missing.Events) != 5 || !slices.IsSorted(depths) {
				t.Errorf("get_missing_events: %d events of depths %v, want 5, oldest first", len(missing.Events), depths)
			}

			// C has no user in the room: shared history is not for it.
			if st, code := c.fedGet(t, a.name, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(string(m1)), nil, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("C: GET /event of shared history = %d %s, want 403 M_FORBIDDEN", st, code)
			}
			if st, code := c.fedGet(t, a.name, "GET", "/_matrix/federation/v1/state_ids/"+rq+"?event_id="+url.QueryEscape(string(m1)), nil, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("C: GET /state_ids = %d %s, want 403 M_FORBIDDEN", st, code)
			}
			if st, code := c.fedGet(t, a.name, "GET", "/_matrix/federation/v1/backfill/"+rq+"?v="+url.QueryEscape(string(m1))+"&limit=1", nil, &tx); st != 200 || len(tx.PDUs) != 1 || bytes.Contains(tx.PDUs[0], []byte("secret history")) {
				t.Errorf("C: /backfill = %d %s %s, want m1 redacted", st, code, first(tx.PDUs))
			}

			// World-readable history is.
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/state/m.room.history_visibility/", map[string]any{"history_visibility": "world_readable"}, &struct{}{})
			m2 := sendMessage(t, a.base, tok, roomID, "m2", "public now")
			if st, code := c.fedGet(t, a.name, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(string(m2)), nil, &tx); st != 200 || !bytes.Contains(first(tx.PDUs), []byte("public now")) {
				t.Errorf("C: GET /event of world-readable history = %d %s", st, code)
			}
			if st, code := c.fedGet(t, a.name, "GET", "/_matrix/federation/v1/state_ids/"+rq+"?event_id="+url.QueryEscape(string(m2)), nil, nil); st != 200 {
				t.Errorf("C: GET /state_ids at a world-readable event = %d %s", st, code)
			}

			// The ACL denies IP literals: B is refused.
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/state/m.room.server_acl/", map[string]any{"allow": []string{"*"}, "allow_ip_literals": false}, &struct{}{})
			for _, path := range []string{
				"/_matrix/federation/v1/state_ids/" + rq + "?event_id=" + url.QueryEscape(string(m2)),
				"/_matrix/federation/v1/state/" + rq + "?event_id=" + url.QueryEscape(string(m2)),
				"/_matrix/federation/v1/event_auth/" + rq + "/" + url.PathEscape(string(m2)),
				"/_matrix/federation/v1/backfill/" + rq + "?v=" + url.QueryEscape(string(m2)) + "&limit=1",
			} {
				if st, code := b.fedGet(t, a.name, "GET", path, nil, nil); st != 403 || code != "M_FORBIDDEN" {
					t.Errorf("B denied by ACL: GET %s = %d %s, want 403 M_FORBIDDEN", path, st, code)
				}
			}
			if st, code := b.fedGet(t, a.name, "POST", "/_matrix/federation/v1/get_missing_events/"+rq, gme, nil); st != 403 || code != "M_FORBIDDEN" {
				t.Errorf("B denied by ACL: POST /get_missing_events = %d %s, want 403 M_FORBIDDEN", st, code)
			}
		})
	}
}

func first(pdus []json.RawMessage) json.RawMessage {
	if len(pdus) == 0 {
		return nil
	}
	return pdus[0]
}
