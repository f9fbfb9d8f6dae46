package clientsync

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestSetPresenceIsActivity(t *testing.T) { forEachBackend(t, testSetPresenceIsActivity) }

// testSetPresenceIsActivity follows presence.yaml (setPresence): "When
// setting the status, the activity time is updated", whichever state is
// set, so last_active_ago starts again from zero each time.
func testSetPresenceIsActivity(t *testing.T) {
	h := newHarness(t, 0)
	var mu sync.Mutex
	now := testNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := New(Config{DB: h.db, Rooms: h.rooms, Logger: slog.New(slog.DiscardHandler), Stream: h.rooms.Stream(), Now: clock,
		Presence: PresenceConfig{Enabled: true, IdleTimeout: time.Hour, OfflineTimeout: 2 * time.Hour}})
	if err := s.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)

	s.SetPresence(alice, PresenceOnline, nil)
	for _, state := range []string{PresenceUnavailable, PresenceUnavailable, PresenceOffline, PresenceOnline} {
		advance(10 * time.Minute)
		if got := s.GetPresence(alice); got.LastActiveAgo != (10 * time.Minute).Milliseconds() {
			t.Fatalf("before setting %s: last_active_ago = %d, want 10 minutes", state, got.LastActiveAgo)
		}
		s.SetPresence(alice, state, nil)
		if got := s.GetPresence(alice); got.State != state || got.LastActiveAgo != 0 {
			t.Errorf("after setting %s: %+v, want that state and last_active_ago 0", state, got)
		}
	}
}
