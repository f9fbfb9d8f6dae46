package clientapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
)

// storeSoftFailed stores, as the event path stores an event of another
// server that passes the auth rules against the state before it but not
// against the room's current state, a message on top of prev: kept
// without a stream position, marked soft-failed.
func storeSoftFailed(t *testing.T, db *store.DB, prev store.Event, body string) id.EventID {
	t.Helper()
	ctx := context.Background()
	info, err := db.Room(ctx, prev.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := roomversion.Lookup(roomversion.ID(info.RoomVersion))
	if !ok {
		t.Fatalf("room version %q", info.RoomVersion)
	}
	prevPDU, err := event.ParseTrusted(prev.JSON, v, prev.EventID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.GenerateKey(rand.Reader, "elsewhere.test", "ed25519:k1")
	if err != nil {
		t.Fatal(err)
	}
	pdu, err := event.Build(event.Proto{
		Type: "m.room.message", Sender: "@mallory:elsewhere.test", RoomID: prev.RoomID,
		Content:    []byte(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body)),
		PrevEvents: []id.EventID{prev.EventID}, AuthEvents: prevPDU.AuthEvents(),
		Depth: prev.Depth + 1, OriginServerTS: prev.OriginServerTS + 1,
	}, v, key)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		_, pos, err := tx.InsertEvent(ctx, store.EventRecord{
			EventID: pdu.EventID(), RoomID: prev.RoomID, Type: pdu.Type(), Sender: pdu.Sender(),
			Depth: pdu.Depth(), OriginServerTS: pdu.OriginServerTS(), JSON: pdu.JSON(), SoftFailed: true,
		})
		if err == nil && pos != 0 {
			err = fmt.Errorf("soft-failed event got stream position %d", pos)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pdu.EventID()
}

// TestSoftFailedEventsAreNotServed checks that an event stored
// soft-failed, which the spec says is not sent to clients, does not exist
// for them: every read by event ID answers 404 M_NOT_FOUND as for an
// unknown event, it is not a redaction target, and no timeline serves it.
func TestSoftFailedEventsAreNotServed(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		alice, token := e.user("alice")
		ctx := context.Background()
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})).RoomID
		msg := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "visible")).EventID
		stored, err := e.db.Event(ctx, id.EventID(msg))
		if err != nil {
			t.Fatal(err)
		}
		soft := storeSoftFailed(t, e.db, stored, "soft-failed")

		room := url.PathEscape(string(roomID))
		ev := url.PathEscape(string(soft))
		for _, tc := range []struct{ name, method, path string }{
			{"GET /event", "GET", "/_matrix/client/v3/rooms/" + room + "/event/" + ev},
			{"GET /context", "GET", "/_matrix/client/v3/rooms/" + room + "/context/" + ev},
			{"PUT /redact", "PUT", "/_matrix/client/v3/rooms/" + room + "/redact/" + ev + "/r1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.method == "PUT" {
					body = map[string]any{}
				}
				e.expect(e.do(tc.method, tc.path, token, body), 404, "M_NOT_FOUND")
			})
		}
		if red, err := e.db.Event(ctx, soft); err != nil || red.RedactedBecause != "" {
			t.Errorf("soft-failed event after /redact: %+v, %v; want it stored unredacted", red, err)
		}
		msgs := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 50))
		for _, m := range msgs.Chunk {
			if m.ID.String() == string(soft) {
				t.Errorf("/messages served the soft-failed event")
			}
		}
		// The visible event's context does not list it either.
		c := must[*mautrix.RespContext](t, "context")(alice.Context(ctx, roomID, msg, nil, 10))
		for _, list := range [][]*mevent.Event{c.EventsBefore, c.EventsAfter} {
			for _, m := range list {
				if m.ID.String() == string(soft) {
					t.Errorf("/context of a visible event served the soft-failed event")
				}
			}
		}
	})
}
