package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
)

// TestRelationChecksOnSend follows Client-Server API § Avoiding duplicate
// annotations and § Validation of m.thread relationships, on every
// backend: a user's second reaction with the same key is refused until the
// first is redacted (a retry of the first answers its event), a thread
// cannot start off an event related to another, and a parent must be in
// the same room; a parent the server does not have passes.
func TestRelationChecksOnSend(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		other := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, created.RoomID))
		room := url.PathEscape(string(created.RoomID))
		send := func(tok, typ, txn string, content map[string]any, status int, errcode string) string {
			t.Helper()
			res := e.do("PUT", "/_matrix/client/v3/rooms/"+room+"/send/"+typ+"/"+txn, tok, content)
			e.expect(res, status, errcode)
			return res.str("event_id")
		}
		rel := func(relType, parent string, extra map[string]any) map[string]any {
			r := map[string]any{"rel_type": relType, "event_id": parent}
			for k, v := range extra {
				r[k] = v
			}
			return map[string]any{"msgtype": "m.text", "body": "x", "m.relates_to": r}
		}
		thumbs := map[string]any{"key": "👍"}
		root := send(aliceTok, "m.room.message", "root", map[string]any{"msgtype": "m.text", "body": "root"}, http.StatusOK, "")

		first := send(bobTok, "m.reaction", "r1", rel("m.annotation", root, thumbs), http.StatusOK, "")
		send(bobTok, "m.reaction", "r2", rel("m.annotation", root, thumbs), http.StatusBadRequest, "M_DUPLICATE_ANNOTATION")
		if again := send(bobTok, "m.reaction", "r1", rel("m.annotation", root, thumbs), http.StatusOK, ""); again != first {
			t.Errorf("retried reaction = %s, want the first, %s", again, first)
		}
		send(aliceTok, "m.reaction", "r1", rel("m.annotation", root, thumbs), http.StatusOK, "")
		send(bobTok, "m.reaction", "r3", rel("m.annotation", root, map[string]any{"key": "🎉"}), http.StatusOK, "")
		send(bobTok, "m.room.message", "r4", rel("m.annotation", root, thumbs), http.StatusOK, "") // another event type
		e.expect(e.do("PUT", "/_matrix/client/v3/rooms/"+room+"/redact/"+url.PathEscape(first)+"/red1", bobTok, map[string]any{}), http.StatusOK, "")
		send(bobTok, "m.reaction", "r5", rel("m.annotation", root, thumbs), http.StatusOK, "")

		reply := send(bobTok, "m.room.message", "t1", rel("m.thread", root, nil), http.StatusOK, "")
		send(bobTok, "m.room.message", "t2", rel("m.thread", reply, nil), http.StatusBadRequest, "M_UNKNOWN")
		send(bobTok, "m.room.message", "t3", rel("m.thread", first, nil), http.StatusOK, "") // redacted: no relation left
		send(bobTok, "m.room.message", "t4", rel("m.thread", root, nil), http.StatusOK, "")

		elsewhere := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, other.RoomID, "elsewhere")).EventID
		send(bobTok, "m.reaction", "x1", rel("m.annotation", string(elsewhere), thumbs), http.StatusBadRequest, "M_UNKNOWN")
		send(bobTok, "m.reaction", "x2", rel("m.annotation", "$notyethere", thumbs), http.StatusOK, "")
	})
}
