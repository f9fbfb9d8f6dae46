package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"maunium.net/go/mautrix"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestEventReportsAdmin reads users' event reports through Synapse's admin
// API, on every backend: only server administrators; newest first by
// default, dir=f, from/limit paging with next_token and total, filters by
// reporter and room; one report with the event's JSON, the room's name
// and alias and the event's sender; deletion; room and user reports are
// not event reports; bad parameters are 400 M_INVALID_PARAM.
func TestEventReportsAdmin(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, bobTok := e.user("bob")
		carol, _ := e.user("carol")
		_, rootTok := e.user("root")
		if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.SetAdmin(ctx, id.UserID("@root:hafen.test"), true) }); err != nil {
			t.Fatal(err)
		}
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", Name: "Harbour", RoomAliasName: "harbour"})).RoomID
		other := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		for _, r := range []mid.RoomID{roomID, other} {
			must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r))
			must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, r))
		}
		bad := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "something bad")).EventID
		worse := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, other, "something worse")).EventID
		for _, rep := range []struct {
			cli    *mautrix.Client
			room   mid.RoomID
			event  mid.EventID
			reason string
		}{{bob, roomID, bad, "first"}, {carol, roomID, bad, "second"}, {bob, other, worse, "third"}} {
			if err := rep.cli.ReportEvent(ctx, rep.room, rep.event, rep.reason); err != nil {
				t.Fatal(err)
			}
		}
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/report", bobTok, map[string]any{"reason": "room"}), http.StatusOK, "")

		list := "/_synapse/admin/v1/event_reports"
		reasons := func(r resp) []string {
			var out []string
			reps, _ := r.body["event_reports"].([]any)
			for _, rep := range reps {
				out = append(out, rep.(map[string]any)["reason"].(string))
			}
			return out
		}
		check := func(query string, wantReasons []string, wantTotal int, wantNext any) {
			t.Helper()
			r := e.do("GET", list+query, rootTok, nil)
			e.expect(r, http.StatusOK, "")
			if got := reasons(r); !jsonEqual(got, wantReasons) || r.body["total"] != float64(wantTotal) || r.body["next_token"] != wantNext {
				t.Errorf("GET %s = %v total %v next_token %v; want %v total %d next_token %v", query, got, r.body["total"], r.body["next_token"], wantReasons, wantTotal, wantNext)
			}
		}
		check("", []string{"third", "second", "first"}, 3, nil)
		check("?dir=f", []string{"first", "second", "third"}, 3, nil)
		check("?limit=2", []string{"third", "second"}, 3, float64(2))
		check("?limit=2&from=2", []string{"first"}, 3, nil)
		check("?user_id="+url.QueryEscape("@Bob"), []string{"third", "first"}, 2, nil)
		check("?room_id="+url.QueryEscape(string(roomID)), []string{"second", "first"}, 2, nil)

		first := e.do("GET", list+"?dir=f&limit=1", rootTok, nil)
		e.expect(first, http.StatusOK, "")
		rep := first.body["event_reports"].([]any)[0].(map[string]any)
		want := map[string]any{"room_id": string(roomID), "name": "Harbour", "canonical_alias": "#harbour:hafen.test",
			"event_id": string(bad), "user_id": string(bob.UserID), "sender": string(alice.UserID), "reason": "first", "score": nil}
		for k, v := range want {
			if rep[k] != v {
				t.Errorf("report[%s] = %v, want %v", k, rep[k], v)
			}
		}
		reportID := strconv.Itoa(int(rep["id"].(float64)))
		one := e.do("GET", list+"/"+reportID, rootTok, nil)
		e.expect(one, http.StatusOK, "")
		if ev, _ := one.body["event_json"].(map[string]any); ev["sender"] != string(alice.UserID) || lookup(ev, "content", "body") != "something bad" {
			t.Errorf("event_json = %v", one.body["event_json"])
		}
		if one.body["reason"] != "first" || one.body["sender"] != string(alice.UserID) {
			t.Errorf("report = %s", one.raw)
		}

		// Refused: not an administrator, bad parameters, unknown reports,
		// and the room report, which is no event report.
		e.expect(e.do("GET", list, bobTok, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("GET", list+"/"+reportID, bobTok, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("DELETE", list+"/"+reportID, bobTok, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("GET", list, "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
		for _, q := range []string{"?from=-1", "?limit=x", "?dir=up"} {
			e.expect(e.do("GET", list+q, rootTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		}
		e.expect(e.do("GET", list+"/0", rootTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", list+"/abc", rootTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", list+"/999", rootTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		all, err := e.db.Reports(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		roomReport := strconv.FormatInt(all[len(all)-1].ID, 10)
		e.expect(e.do("GET", list+"/"+roomReport, rootTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("DELETE", list+"/"+roomReport, rootTok, nil), http.StatusNotFound, "M_NOT_FOUND")

		// Deleted once dealt with.
		e.expect(e.do("DELETE", list+"/"+reportID, rootTok, nil), http.StatusOK, "")
		e.expect(e.do("GET", list+"/"+reportID, rootTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("DELETE", list+"/"+reportID, rootTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		check("", []string{"third", "second"}, 2, nil)
	})
}
