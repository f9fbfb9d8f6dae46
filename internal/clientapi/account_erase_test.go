package clientapi

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// deactivateWith deactivates the account of name (password "pw-"+name)
// through User-Interactive Authentication.
func (e *roomEnv) deactivateWith(name, token string, erase bool) {
	e.t.Helper()
	c := e.do("POST", "/_matrix/client/v3/account/deactivate", token, map[string]any{"erase": erase})
	e.expect(c, 401, "")
	e.expect(e.do("POST", "/_matrix/client/v3/account/deactivate", token, map[string]any{
		"erase": erase, "auth": passwordAuth(name, "pw-"+name, c.str("session")),
	}), 200, "")
}

// TestErasedUsersEventsRedactedForLaterJoiners checks erase in
// account_deactivation.yaml: "any users (or servers) which join the room
// after the erasure request are served redacted copies of the events sent
// by this account. Users which had visibility on the events before the
// erasure are still able to see unredacted copies." Carol joins after
// alice's erasure and gets alice's message and thread reply redacted from
// every read endpoint, and no search hit for their words; bob, who was
// there, reads them as sent; erin, deactivated without erase, stays as she
// was for everyone.
func TestErasedUsersEventsRedactedForLaterJoiners(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		carol, carolTok := e.user("carol")
		erin, erinTok := e.user("erin")
		roomID := must[*mautrix.RespCreateRoom](t, "create")(bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		for _, c := range []*mautrix.Client{alice, erin} {
			must[*mautrix.RespJoinRoom](t, "join")(c.JoinRoomByID(ctx, roomID))
		}
		send := func(c *mautrix.Client, content map[string]any) mid.EventID {
			t.Helper()
			return must[*mautrix.RespSendEvent](t, "send")(c.SendMessageEvent(ctx, roomID, mevent.EventMessage, content)).EventID
		}
		root := send(bob, map[string]any{"msgtype": "m.text", "body": "thread root"})
		secret := send(alice, map[string]any{"msgtype": "m.text", "body": "the zeppelin plan"})
		reply := send(alice, map[string]any{"msgtype": "m.text", "body": "zeppelin details",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
		kept := send(erin, map[string]any{"msgtype": "m.text", "body": "erin's zeppelin note"})
		postscript := send(alice, map[string]any{"msgtype": "m.text", "body": "P.S."})
		e.deactivateWith("alice", aliceTok, true)
		e.deactivateWith("erin", erinTok, false)
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, roomID))

		rPath := "/_matrix/client/v3/rooms/" + url.PathEscape(string(roomID))
		// body returns content.body of an event in client format, "" if
		// it has none.
		body := func(ev any) string {
			m, _ := ev.(map[string]any)
			c, _ := m["content"].(map[string]any)
			s, _ := c["body"].(string)
			return s
		}
		// bodies returns content.body of the events of a list by ID.
		bodies := func(list any) map[string]string {
			out := map[string]string{}
			evs, _ := list.([]any)
			for _, ev := range evs {
				m, _ := ev.(map[string]any)
				id, _ := m["event_id"].(string)
				out[id] = body(ev)
			}
			return out
		}
		wantBodies := func(what string, got map[string]string, redacted bool) {
			t.Helper()
			for ev, want := range map[mid.EventID]string{secret: "the zeppelin plan", reply: "zeppelin details", kept: "erin's zeppelin note", root: "thread root"} {
				b, ok := got[string(ev)]
				if !ok {
					t.Errorf("%s: event %s missing", what, ev)
					continue
				}
				if redacted && (ev == secret || ev == reply) {
					want = ""
				}
				if b != want {
					t.Errorf("%s: body of %s = %q, want %q", what, ev, b, want)
				}
			}
		}
		// Carol is the first to read the postscript, as a redacted copy;
		// bob still gets it as it was.
		for _, v := range []struct {
			token, want string
		}{{carolTok, ""}, {bobTok, "P.S."}} {
			ps := e.do("GET", rPath+"/event/"+url.PathEscape(string(postscript)), v.token, nil)
			e.expect(ps, 200, "")
			if got := body(ps.body); got != v.want {
				t.Errorf("postscript: body %q, want %q", got, v.want)
			}
		}
		for _, v := range []struct {
			who      string
			token    string
			redacted bool
		}{
			// Bob reads first and last, so that whatever the server keeps
			// of a read, the originals and the copies stay apart.
			{"bob", bobTok, false}, {"carol", carolTok, true}, {"bob again", bobTok, false},
		} {
			msgs := e.do("GET", rPath+"/messages?dir=b&limit=50", v.token, nil)
			e.expect(msgs, 200, "")
			wantBodies(v.who+": /messages", bodies(msgs.body["chunk"]), v.redacted)

			for _, ev := range []mid.EventID{secret, reply, kept} {
				one := e.do("GET", rPath+"/event/"+url.PathEscape(string(ev)), v.token, nil)
				e.expect(one, 200, "")
				ctxResp := e.do("GET", rPath+"/context/"+url.PathEscape(string(ev))+"?limit=0", v.token, nil)
				e.expect(ctxResp, 200, "")
				wantRedacted := v.redacted && ev != kept
				for what, b := range map[string]string{"/event": body(one.body), "/context": body(ctxResp.body["event"])} {
					if (b == "") != wantRedacted {
						t.Errorf("%s: %s of %s: body %q, want redacted %v", v.who, what, ev, b, wantRedacted)
					}
				}
			}

			rels := e.do("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(string(roomID))+"/relations/"+url.PathEscape(string(root)), v.token, nil)
			e.expect(rels, 200, "")
			if got := bodies(rels.body["chunk"])[string(reply)]; (got == "") != v.redacted {
				t.Errorf("%s: /relations: body of the reply %q, want redacted %v", v.who, got, v.redacted)
			}

			sync := e.do("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(`{"room":{"timeline":{"limit":50}}}`), v.token, nil)
			e.expect(sync, 200, "")
			tl, _ := syncRoom(t, sync.body, roomID)["timeline"].(map[string]any)
			wantBodies(v.who+": initial /sync", bodies(tl["events"]), v.redacted)

			c := must[*mautrix.Client](t, "client")(mautrix.NewClient(e.url, "", v.token))
			c.DefaultHTTPRetries = 0
			hits := searchAll(t, c, mautrix.ReqSearch{SearchTerm: "zeppelin", OrderBy: "recent"})
			want := []mid.EventID{kept, reply, secret}
			if v.redacted {
				want = []mid.EventID{kept}
			}
			if !slices.Equal(hits, want) {
				t.Errorf("%s: search hits %v, want %v", v.who, hits, want)
			}
		}
	})
}
