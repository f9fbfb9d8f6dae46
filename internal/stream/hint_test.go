package stream

import (
	"slices"
	"testing"
)

func batch(positions ...int64) []Event {
	out := make([]Event, len(positions))
	for i, p := range positions {
		out[i] = Event{StreamPos: p}
	}
	return out
}

func positions(evs []Event) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.StreamPos)
	}
	return out
}

// TestRecentBatches covers when a consumer may take events from memory:
// only from a boundary of the published batches that follow on from each
// other, never across a batch that may miss events.
func TestRecentBatches(t *testing.T) {
	s := New(10, 5)
	s.Publish(batch(11, 12))
	s.Publish(batch(14)) // 13 was rolled back: a gap, still contiguous
	s.Publish(batch(15, 16))
	cases := []struct {
		name   string
		after  int64
		limit  int
		want   []int64
		upto   int64
		wantOK bool
	}{
		{"from the start", 10, 100, []int64{11, 12, 14, 15, 16}, 16, true},
		{"from a boundary", 12, 100, []int64{14, 15, 16}, 16, true},
		{"whole batches up to the limit", 10, 3, []int64{11, 12, 14}, 14, true},
		{"caught up", 16, 100, nil, 16, true},
		{"inside a batch: read the store", 11, 100, nil, 0, false},
		{"before the oldest batch: read the store", 5, 100, nil, 0, false},
	}
	for _, tc := range cases {
		evs, upto, ok := s.recent(tc.after, tc.limit)
		if ok != tc.wantOK || upto != tc.upto || !slices.Equal(positions(evs), tc.want) {
			t.Errorf("%s: recent(%d, %d) = %v, %d, %v; want %v, %d, %v", tc.name, tc.after, tc.limit, positions(evs), upto, ok, tc.want, tc.upto, tc.wantOK)
		}
	}

	// The hint keeps about 5 events: the oldest batch fell out.
	s.Publish(batch(17, 18))
	if _, _, ok := s.recent(10, 100); ok {
		t.Error("recent(10) still served after its batch fell out of the hint")
	}
	if evs, _, ok := s.recent(12, 100); !ok || !slices.Equal(positions(evs), []int64{14, 15, 16, 17, 18}) {
		t.Errorf("recent(12) = %v, %v; want [14 15 16 17 18]", positions(evs), ok)
	}

	// After an uncertain write the next batch does not follow on.
	s.Invalidate()
	s.Publish(batch(21))
	if evs, upto, ok := s.recent(18, 100); ok {
		t.Errorf("recent(18) across an invalidated gap = %v, %d; want the store", positions(evs), upto)
	}
	if evs, _, ok := s.recent(21, 100); !ok || len(evs) != 0 {
		t.Errorf("recent(21) = %v, %v; want caught up", positions(evs), ok)
	}

	// A batch that does not come after the published position drops
	// the hint; the position never moves back.
	s.Publish(batch(20))
	if s.Position() != 21 {
		t.Errorf("Position = %d after a stale batch, want 21", s.Position())
	}
	if _, _, ok := s.recent(21, 100); ok {
		t.Error("recent served after a stale batch dropped the hint")
	}
	s.Publish(batch(22))
	if _, _, ok := s.recent(21, 100); ok {
		t.Error("the batch after a stale one is served from memory")
	}
}
