package clientapi

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// TestTxnIDsAreScopedByPath checks the spec's transaction identifiers
// ("Transaction identifiers": a request is a retry only when the path is
// the same): the same txnId sent to another room, with another event type,
// or to /redact is a new request, while a real retry returns the original
// event.
func TestTxnIDsAreScopedByPath(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, _ := e.user("alice")
		ctx := context.Background()
		roomA := must[*mautrix.RespCreateRoom](t, "create A")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})).RoomID
		roomB := must[*mautrix.RespCreateRoom](t, "create B")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})).RoomID
		send := func(what string, roomID mid.RoomID, typ mevent.Type, body string) mid.EventID {
			t.Helper()
			content := map[string]any{"msgtype": "m.text", "body": body}
			return must[*mautrix.RespSendEvent](t, what)(alice.SendMessageEvent(ctx, roomID, typ, content, mautrix.ReqSendEvent{TransactionID: "t1"})).EventID
		}
		other := mevent.Type{Type: "org.example.other", Class: mevent.MessageEventType}

		inA := send("send to A", roomA, mevent.EventMessage, "to A")
		inB := send("send to B", roomB, mevent.EventMessage, "to B")
		if inB == inA {
			t.Fatalf("the same txnId in room B returned room A's event %s", inA)
		}
		got := must[*mevent.Event](t, "get B's event")(alice.GetEvent(ctx, roomB, inB))
		if got.RoomID != roomB || got.Content.Raw["body"] != "to B" {
			t.Errorf("room B's event = %s in %s with %v, want the message to B", got.ID, got.RoomID, got.Content.Raw)
		}
		if otherType := send("send another type", roomA, other, "other type"); otherType == inA {
			t.Errorf("the same txnId with another event type returned the first event")
		}
		if retry := send("retry", roomA, mevent.EventMessage, "to A"); retry != inA {
			t.Errorf("retry in room A = %s, want the original %s", retry, inA)
		}

		// /redact with a txnId /send used before redacts.
		red := must[*mautrix.RespSendEvent](t, "redact")(alice.RedactEvent(ctx, roomA, inA, mautrix.ReqRedact{TxnID: "t1"}))
		if red.EventID == inA {
			t.Fatalf("/redact reusing a /send txnId returned the message %s instead of redacting it", inA)
		}
		redacted := must[*mevent.Event](t, "get redacted")(alice.GetEvent(ctx, roomA, inA))
		if len(redacted.Content.Raw) != 0 {
			t.Errorf("content after /redact = %v, want {}", redacted.Content.Raw)
		}
		again := must[*mautrix.RespSendEvent](t, "redact retry")(alice.RedactEvent(ctx, roomA, inA, mautrix.ReqRedact{TxnID: "t1"}))
		if again.EventID != red.EventID {
			t.Errorf("retried /redact = %s, want the original redaction %s", again.EventID, red.EventID)
		}
	})
}
