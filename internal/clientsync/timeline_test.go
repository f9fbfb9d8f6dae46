package clientsync

import "testing"

func TestTimelineRangeAndFloor(t *testing.T) {
	tl := NewTimeline(3, 10)
	for pos := int64(11); pos <= 14; pos++ {
		tl.Append(entry{pos: pos})
	}
	// Capacity 3: 11 fell out, so the ring is complete only after 11.
	if _, ok := tl.Range(10, 14); ok {
		t.Fatal("Range(10) = ok, want not covered after eviction")
	}
	got, ok := tl.Range(11, 14)
	if !ok || len(got) != 3 || got[0].pos != 12 || got[2].pos != 14 {
		t.Fatalf("Range(11, 14) = %v, %v; want positions 12..14", got, ok)
	}
	got, ok = tl.Range(12, 13)
	if !ok || len(got) != 1 || got[0].pos != 13 {
		t.Fatalf("Range(12, 13) = %v, %v; want position 13", got, ok)
	}
	got, ok = tl.Range(14, 20)
	if !ok || len(got) != 0 {
		t.Fatalf("Range(14, 20) = %v, %v; want empty", got, ok)
	}
}
