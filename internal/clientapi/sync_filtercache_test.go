package clientapi

import (
	"context"
	"testing"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/filter"
)

// TestSyncFilterParsedOnce checks that a filter a client sends again and
// again, inline or by ID, is parsed once and shared, that different
// filters stay apart, and that a bad filter is still refused every time.
func TestSyncFilterParsedOnce(t *testing.T) {
	e := newRoomEnv(t)
	s := e.srv
	e.user("alice")
	ctx := context.Background()
	const inline = `{"room":{"timeline":{"limit":5}}}`
	a, err := s.resolveFilter(ctx, "@alice:hafen.test", inline)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.resolveFilter(ctx, "@alice:hafen.test", inline)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.Room == nil || a.Room.Timeline == nil || a.Room.Timeline.Limit == nil || *a.Room.Timeline.Limit != 5 {
		t.Errorf("the same inline filter gave %p and %p (%+v)", a, b, a)
	}
	other, err := s.resolveFilter(ctx, "@alice:hafen.test", `{"room":{"timeline":{"limit":7}}}`)
	if err != nil || other == a || *other.Room.Timeline.Limit != 7 {
		t.Errorf("another filter = %+v, %v", other, err)
	}
	s.Filters = &filter.Service{DB: e.db}
	fid, err := s.Filters.Define(ctx, "@alice:hafen.test", a)
	if err != nil {
		t.Fatal(err)
	}
	byID1, err := s.resolveFilter(ctx, "@alice:hafen.test", fid)
	if err != nil {
		t.Fatal(err)
	}
	byID2, err := s.resolveFilter(ctx, "@alice:hafen.test", fid)
	if err != nil || byID1 != byID2 || *byID1.Room.Timeline.Limit != 5 {
		t.Errorf("the same filter ID gave %p and %p, %v", byID1, byID2, err)
	}
	for range 2 {
		if _, err := s.resolveFilter(ctx, "@alice:hafen.test", `{"event_format":"xml"}`); err == nil {
			t.Error("an invalid filter was accepted")
		}
	}
}

// countingFilters counts the stored filters read.
type countingFilters struct {
	Filters
	gets int
}

func (c *countingFilters) Get(ctx context.Context, user id.UserID, filterID string) ([]byte, error) {
	c.gets++
	return c.Filters.Get(ctx, user, filterID)
}

// TestStoredFilterReadOnce checks that syncing again and again with a
// stored filter's ID reads it from the store once, and that the filter
// IDs of one user do not name another user's filters.
func TestStoredFilterReadOnce(t *testing.T) {
	e := newRoomEnv(t)
	s := e.srv
	e.user("alice")
	e.user("bob")
	ctx := context.Background()
	filters := &countingFilters{Filters: &filter.Service{DB: e.db}}
	s.Filters = filters
	limit := 3
	fid, err := filters.Define(ctx, "@alice:hafen.test", &clientsync.Filter{Room: &clientsync.RoomFilter{Timeline: &clientsync.RoomEventFilter{EventFilter: clientsync.EventFilter{Limit: &limit}}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f, err := s.resolveFilter(ctx, "@alice:hafen.test", fid)
		if err != nil || *f.Room.Timeline.Limit != 3 {
			t.Fatalf("alice's filter %s = %+v, %v", fid, f, err)
		}
	}
	if filters.gets != 1 {
		t.Errorf("three syncs with one stored filter read it %d times, want 1", filters.gets)
	}
	if f, err := s.resolveFilter(ctx, "@bob:hafen.test", fid); err == nil {
		t.Errorf("bob's sync with alice's filter ID %s got %+v, want an error", fid, f)
	}
}
