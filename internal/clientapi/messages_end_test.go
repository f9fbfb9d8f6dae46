package clientapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/store"
)

// fetchedHistory is a HistoryFetcher whose backfills report n events
// fetched from other servers, without storing any.
type fetchedHistory struct{ n int }

func (f fetchedHistory) BackfillRoom(context.Context, id.RoomID, int) (int, error) { return f.n, nil }

func (fetchedHistory) FillHoles(context.Context, id.RoomID, store.TopoPos, store.TopoPos, int) (int, error) {
	return 0, nil
}

// TestMessagesEndOmittedAtCreation pages back through a room whose
// history a backfill has just extended: a page that reaches the room's
// creation has no end token, as the spec asks when no further events are
// available, even though the backfill fetched events.
func TestMessagesEndOmittedAtCreation(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, tok := e.user("alice")
		created := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
		must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, created.RoomID, "hello"))

		// The same server, with history to fetch from other servers.
		e.srv.Rooms.History = fetchedHistory{n: 1}
		rt := httpapi.NewRouter()
		e.srv.Routes(rt)
		e.h = httpapi.Middleware(slog.New(slog.DiscardHandler), rt)

		r := e.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(string(created.RoomID))+"/messages?dir=b&limit=50", tok, nil)
		e.expect(r, http.StatusOK, "")
		chunk, _ := r.body["chunk"].([]any)
		last, _ := chunk[len(chunk)-1].(map[string]any)
		if last["type"] != "m.room.create" {
			t.Fatalf("last event of the page = %v, want the room's creation", last["type"])
		}
		if end, ok := r.body["end"]; ok {
			t.Errorf("end = %v at the room's creation, want none", end)
		}
	})
}
