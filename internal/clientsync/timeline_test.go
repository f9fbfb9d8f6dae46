package clientsync

import (
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
)

func TestTimelineRangeAndFloor(t *testing.T) {
	tl := NewTimeline(3, 1<<20, 10)
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

// TestTimelineBoundedByBytes checks that the ring drops its oldest events
// once they cost more than its byte bound, however few they are, and keeps
// an event bigger than the bound alone.
func TestTimelineBoundedByBytes(t *testing.T) {
	tl := NewTimeline(100, 3*entryOverhead+100, 10)
	for pos := int64(11); pos <= 15; pos++ {
		tl.Append(entry{pos: pos, txnID: "t"})
	}
	// Three entries of entryOverhead+1 fit; 11 and 12 fell out.
	if _, ok := tl.Range(11, 15); ok {
		t.Fatal("Range(11) = ok, want not covered after the byte bound dropped 12")
	}
	if got, ok := tl.Range(12, 15); !ok || len(got) != 3 || got[0].pos != 13 {
		t.Fatalf("Range(12, 15) = %v, %v; want positions 13..15", got, ok)
	}
	big := entry{pos: 16, txnID: string(make([]byte, 4*entryOverhead))}
	tl.Append(big)
	if got, ok := tl.Range(15, 16); !ok || len(got) != 1 || got[0].pos != 16 {
		t.Fatalf("Range(15, 16) = %v, %v; want the big entry alone", got, ok)
	}
	if tl.n != 1 || tl.bytes != big.cost() {
		t.Errorf("ring holds %d entries costing %d, want 1 costing %d", tl.n, tl.bytes, big.cost())
	}
	tl.Append(entry{pos: 17})
	if got, ok := tl.Range(16, 17); !ok || len(got) != 1 || tl.bytes != entryOverhead {
		t.Errorf("after a small entry: %v, %v, %d bytes; want it alone", got, ok, tl.bytes)
	}
}

// TestTimelinePlace checks that Place finds the newest events of the ring,
// and only within placeScan of its end.
func TestTimelinePlace(t *testing.T) {
	tl := NewTimeline(placeScan+10, 1<<30, 0)
	var first, last *event.PDU
	for i := range placeScan + 5 {
		pdu := testPDU(t, "m.room.message", nil, "@alice:hafen.test", fmt.Sprintf(`{"body":"%d"}`, i))
		if i == 0 {
			first = pdu
		}
		last = pdu
		tl.Append(entry{pos: int64(i + 1), pdu: pdu})
	}
	pdu, pos, ok := tl.Place(last.EventID())
	if !ok || pdu != last || pos != placeScan+5 {
		t.Errorf("Place(newest) = %v, %d, %v", pdu, pos, ok)
	}
	if _, _, ok := tl.Place(first.EventID()); ok {
		t.Error("Place found an event further back than placeScan")
	}
	if _, _, ok := tl.Place("$unknown"); ok {
		t.Error("Place found an unknown event")
	}
}
