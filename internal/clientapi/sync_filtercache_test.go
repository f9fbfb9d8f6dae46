package clientapi

import (
	"context"
	"testing"

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
