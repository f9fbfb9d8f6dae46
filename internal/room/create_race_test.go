package room

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// countingClock returns t0 for its first limit calls and t0 plus a
// millisecond after that; limit 0 means never advance.
type countingClock struct {
	mu    sync.Mutex
	t0    time.Time
	calls int
	limit int
}

func (c *countingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.limit > 0 && c.calls > c.limit {
		return c.t0.Add(time.Millisecond)
	}
	return c.t0
}

// TestIdenticalCreatesInOneMillisecond creates two identical v12 rooms at
// the same millisecond: their create events, and so their room IDs, are
// the same, and the second creation must build its room again instead of
// failing on the taken room ID.
func TestIdenticalCreatesInOneMillisecond(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	req := func() *CreateRequest {
		return &CreateRequest{Creator: id.UserID("@alice:hafen.test"), Version: roomversion.V12, Preset: PresetPrivateChat}
	}
	// How often one creation reads the clock.
	probe := &countingClock{t0: t0}
	ps, _, _ := newServiceWith(t, filepath.Join(t.TempDir(), "probe.db"), Config{Now: probe.now})
	if _, err := ps.CreateRoom(context.Background(), req()); err != nil {
		t.Fatal(err)
	}
	perCreate := probe.calls

	forEachBackend(t, func(t *testing.T, dsn string) {
		clock := &countingClock{t0: t0, limit: 2 * perCreate}
		s, _, _ := newServiceWith(t, dsn, Config{Now: clock.now})
		first, err := s.CreateRoom(context.Background(), req())
		if err != nil {
			t.Fatalf("first create: %v", err)
		}
		second, err := s.CreateRoom(context.Background(), req())
		if err != nil {
			t.Fatalf("second create at the same millisecond: %v", err)
		}
		if first == second {
			t.Fatalf("both creations gave room %s", first)
		}
	})
}
