package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/clientsync"
)

// TestReceiptsCountTowardSyncPace checks that the receipts and read
// markers a device posts make its next sync wait one pacing interval more
// each, so that a client posting a receipt per answer in a busy room takes
// no more of the server than one that only syncs.
func TestReceiptsCountTowardSyncPace(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		var mu sync.Mutex
		var pauses []time.Duration
		taken := func() []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			got := slices.Clone(pauses)
			pauses = nil
			return got
		}
		t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		withSyncConfig(t, e, func(cfg *clientsync.Config) {
			cfg.AnswerBudget = 100 // one device syncing: 10 ms apart
			cfg.Now = func() time.Time { return t0 }
			cfg.Pause = func(ctx context.Context, d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				pauses = append(pauses, d)
			}
		})
		ctx := context.Background()
		alice, token := e.user("alice")
		roomID := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})).RoomID
		since := e.do("GET", "/_matrix/client/v3/sync", token, nil)
		e.expect(since, http.StatusOK, "")
		next := since.str("next_batch")

		// poll sends a message and syncs with a timeout, which paces.
		poll := func(step string) []time.Duration {
			t.Helper()
			must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, step))
			resp := e.do("GET", "/_matrix/client/v3/sync?timeout=1000&since="+url.QueryEscape(next), token, nil)
			e.expect(resp, http.StatusOK, "")
			next = resp.str("next_batch")
			return taken()
		}
		if got := poll("no receipt"); !slices.Equal(got, []time.Duration{10 * time.Millisecond}) {
			t.Errorf("pauses without a receipt = %v, want [10ms]", got)
		}
		last := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "read me")).EventID
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/receipt/m.read/"+url.PathEscape(string(last)), token, map[string]any{}), http.StatusOK, "")
		if got := poll("after a receipt"); !slices.Equal(got, []time.Duration{20 * time.Millisecond}) {
			t.Errorf("pauses after a receipt = %v, want [20ms]", got)
		}
		e.expect(e.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/read_markers", token,
			map[string]any{"m.fully_read": string(last), "m.read": string(last)}), http.StatusOK, "")
		if got := poll("after read markers"); !slices.Equal(got, []time.Duration{20 * time.Millisecond}) {
			t.Errorf("pauses after read markers = %v, want [20ms]", got)
		}
	})
}
