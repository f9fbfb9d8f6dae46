package clientapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/room"
)

// withSyncPresence is withSync with presence configured.
func withSyncPresence(t *testing.T, e *roomEnv, cfg clientsync.PresenceConfig) {
	t.Helper()
	svc := e.srv.Rooms.Service.(*room.Service)
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	syncer := clientsync.New(clientsync.Config{DB: e.db, Rooms: svc, Logger: logger, Stream: e.events, Presence: cfg})
	if err := syncer.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(syncer.Stop)
	e.srv.Sync, e.srv.Presence = syncer, syncer
}

// presenceInSync returns the m.presence content of user in a raw /sync
// answer.
func presenceInSync(body map[string]any, user string) map[string]any {
	p, _ := body["presence"].(map[string]any)
	evs, _ := p["events"].([]any)
	for _, e := range evs {
		ev := e.(map[string]any)
		if ev["sender"] == user && ev["type"] == "m.presence" {
			c, _ := ev["content"].(map[string]any)
			return c
		}
	}
	return nil
}

// TestPresenceAPI follows Client-Server API § Presence through the
// router: PUT for oneself only, GET for oneself and users sharing a room,
// the spec's errors, m.presence in sync for users sharing a room, and a
// presence filter.
func TestPresenceAPI(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSyncPresence(t, e, clientsync.PresenceConfig{Enabled: true})
		ctx := context.Background()
		aliceCli, alice := e.user("alice")
		_, bob := e.user("bob")
		_, carol := e.user("carol")
		status := "/_matrix/client/v3/presence/" + url.PathEscape("@alice:hafen.test") + "/status"

		if err := aliceCli.SetPresence(ctx, mautrix.ReqPresence{Presence: mevent.PresenceOnline, StatusMsg: "at sea"}); err != nil {
			t.Fatalf("mautrix SetPresence: %v", err)
		}
		own, err := aliceCli.GetPresence(ctx, aliceCli.UserID)
		if err != nil || own.Presence != mevent.PresenceOnline || own.StatusMsg != "at sea" || !own.CurrentlyActive {
			t.Errorf("mautrix GetPresence of oneself = %+v, %v", own, err)
		}
		e.expect(e.do("GET", status, bob, nil), 403, "M_FORBIDDEN")
		e.expect(e.do("PUT", status, bob, map[string]any{"presence": "offline"}), 403, "M_FORBIDDEN")
		e.expect(e.do("PUT", status, alice, map[string]any{"presence": "away"}), 400, "M_INVALID_PARAM")
		e.expect(e.do("PUT", status, alice, map[string]any{}), 400, "M_MISSING_PARAM")
		e.expect(e.do("GET", status, "", nil), 401, "M_MISSING_TOKEN")

		roomID := e.createRoom(alice)
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/join", bob, map[string]any{}), 200, "")
		res := e.do("GET", status, bob, nil)
		e.expect(res, 200, "")
		if res.str("presence") != "online" || res.str("status_msg") != "at sea" {
			t.Errorf("GET alice's presence as a room mate = %s", res.raw)
		}

		// set_presence=offline keeps bob's own syncs from marking him.
		first := e.do("GET", "/_matrix/client/v3/sync?set_presence=offline", bob, nil)
		e.expect(first, 200, "")
		if c := presenceInSync(first.body, "@alice:hafen.test"); c == nil || c["presence"] != "online" {
			t.Errorf("bob's initial sync: alice's presence = %v", c)
		}
		e.expect(e.do("PUT", "/_matrix/client/v3/presence/"+url.PathEscape("@carol:hafen.test")+"/status", carol, map[string]any{"presence": "online"}), 200, "")
		e.expect(e.do("PUT", status, alice, map[string]any{"presence": "unavailable", "status_msg": "ashore"}), 200, "")
		next := e.do("GET", "/_matrix/client/v3/sync?set_presence=offline&since="+url.QueryEscape(first.str("next_batch")), bob, nil)
		e.expect(next, 200, "")
		if c := presenceInSync(next.body, "@alice:hafen.test"); c == nil || c["presence"] != "unavailable" || c["status_msg"] != "ashore" {
			t.Errorf("bob's next sync: alice's presence = %v (%s)", c, next.raw)
		}
		if c := presenceInSync(next.body, "@carol:hafen.test"); c != nil {
			t.Errorf("bob sees carol's presence without sharing a room: %v", c)
		}
		if c := presenceInSync(next.body, "@bob:hafen.test"); c != nil {
			t.Errorf("bob's sync with set_presence=offline marked him: %v", c)
		}
		filter, _ := json.Marshal(map[string]any{"presence": map[string]any{"not_types": []string{"m.presence"}}})
		filtered := e.do("GET", "/_matrix/client/v3/sync?set_presence=offline&filter="+url.QueryEscape(string(filter)), bob, nil)
		e.expect(filtered, 200, "")
		if _, ok := filtered.body["presence"]; ok {
			t.Errorf("presence filtered out, yet sync has %v", filtered.body["presence"])
		}
		// A sync with set_presence=online (the default) marks the user.
		e.expect(e.do("GET", "/_matrix/client/v3/sync", bob, nil), 200, "")
		if res := e.do("GET", "/_matrix/client/v3/presence/"+url.PathEscape("@bob:hafen.test")+"/status", alice, nil); res.str("presence") != "online" {
			t.Errorf("bob after a sync = %s, want online", res.raw)
		}
	})
}

// TestPresenceOff: with presence off, PUT is accepted and ignored, GET
// answers offline and sync has no presence section.
func TestPresenceOff(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSyncPresence(t, e, clientsync.PresenceConfig{})
		_, alice := e.user("alice")
		status := "/_matrix/client/v3/presence/" + url.PathEscape("@alice:hafen.test") + "/status"
		e.expect(e.do("PUT", status, alice, map[string]any{"presence": "online", "status_msg": "hi"}), 200, "")
		res := e.do("GET", status, alice, nil)
		e.expect(res, 200, "")
		if res.str("presence") != "offline" || res.body["status_msg"] != nil {
			t.Errorf("GET with presence off = %s", res.raw)
		}
		s := e.do("GET", "/_matrix/client/v3/sync", alice, nil)
		e.expect(s, 200, "")
		if _, ok := s.body["presence"]; ok {
			t.Errorf("sync with presence off has a presence section: %s", s.raw)
		}
	})
}
