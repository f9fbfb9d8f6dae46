package clientsync

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// mapReceiptEvent is the m.receipt event of rcs built with nested maps
// and encoding/json: the reference receiptEvent must agree with.
func mapReceiptEvent(rcs []store.Receipt) map[string]any {
	content := map[string]any{}
	for _, rc := range rcs {
		byType, _ := content[string(rc.EventID)].(map[string]any)
		if byType == nil {
			byType = map[string]any{}
			content[string(rc.EventID)] = byType
		}
		users, _ := byType[rc.Type].(map[string]any)
		if users == nil {
			users = map[string]any{}
			byType[rc.Type] = users
		}
		r := map[string]any{"ts": float64(rc.TS)}
		if rc.ThreadID != "" {
			r["thread_id"] = rc.ThreadID
		}
		users[string(rc.UserID)] = r
	}
	return map[string]any{"type": "m.receipt", "content": content}
}

func TestReceiptEventEncoding(t *testing.T) {
	rc := func(user, typ, thread, ev string, ts int64) store.Receipt {
		return store.Receipt{RoomID: "!r:x", UserID: id.UserID(user), Type: typ, ThreadID: thread, EventID: id.EventID(ev), TS: ts}
	}
	for name, rcs := range map[string][]store.Receipt{
		"none": nil,
		"one":  {rc("@a:x", "m.read", "", "$1", 5)},
		"mixed": {
			rc("@b:x", "m.read", "", "$2", 1), rc("@a:x", "m.read", "", "$1", 2),
			rc("@a:x", "m.read.private", "main", "$1", 3), rc("@c:x", "m.read", "$root", "$2", 4),
			rc("@d:x", "m.read", "", "$1", 5),
		},
		"one user twice on one event": {rc("@a:x", "m.read", "$t1", "$1", 1), rc("@a:x", "m.read", "$t2", "$1", 2)},
		"characters to escape":        {rc("@\"q\\u:x", "m.read", "", "$é\n<>", 7)},
	} {
		raw, err := receiptEvent(rcs)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: invalid JSON %s: %v", name, raw, err)
		}
		if want := mapReceiptEvent(rcs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: receiptEvent = %s, want %v", name, raw, want)
		}
	}
}

// TestReceiptLogMarksReplacedReceipts checks that a range of the receipt
// log marks the receipts that a later receipt of the same range replaces
// (same room, user, type and thread), and only those.
func TestReceiptLogMarksReplacedReceipts(t *testing.T) {
	h := newHarness(t, 0)
	base := h.sync.receiptPos()
	all := []store.Receipt{
		{RoomID: "!r:x", UserID: "@a:x", Type: "m.read", EventID: "$1"},
		{RoomID: "!r:x", UserID: "@b:x", Type: "m.read", EventID: "$1"},
		{RoomID: "!r:x", UserID: "@a:x", Type: "m.read.private", EventID: "$1"},
		{RoomID: "!r:x", UserID: "@a:x", Type: "m.read", ThreadID: "main", EventID: "$1"},
		{RoomID: "!o:x", UserID: "@a:x", Type: "m.read", EventID: "$1"},
		{RoomID: "!r:x", UserID: "@a:x", Type: "m.read", EventID: "$2"},
	}
	for i := range all {
		all[i].StreamPos = base + int64(i) + 1
	}
	// Two commits: one receipt, then a batch of the rest.
	h.sync.ReceiptsAdded(all[:1])
	h.sync.ReceiptsAdded(all[1:])
	for _, c := range []struct {
		since, upto int64
		want        []bool
	}{
		{0, 6, []bool{true, false, false, false, false, false}},
		{0, 5, []bool{false, false, false, false, false}},
		{1, 6, []bool{false, false, false, false, false}},
	} {
		rcs, replaced, err := h.sync.receiptsSince(h.ctx, base+c.since, base+c.upto)
		if err != nil {
			t.Fatal(err)
		}
		if len(rcs) != len(c.want) || !reflect.DeepEqual(replaced, c.want) {
			t.Errorf("range (%d, %d]: %d receipts, replaced %v; want %v", c.since, c.upto, len(rcs), replaced, c.want)
		}
	}
}

func TestReceiptCacheKeepsOnlyTheNewestRanges(t *testing.T) {
	var l receiptLog
	room := id.RoomID("!r:example.org")
	ev := json.RawMessage(`{"content":{},"type":"m.receipt"}`)
	l.cacheReceipts(receiptKey{room, 1, 5}, ev)
	l.cacheReceipts(receiptKey{room, 2, 5}, ev)
	if _, ok := l.cachedReceipts(receiptKey{room, 1, 5}); !ok {
		t.Fatalf("range (1, 5] not cached")
	}
	l.cacheReceipts(receiptKey{room, 5, 7}, ev)
	if _, ok := l.cachedReceipts(receiptKey{room, 1, 5}); ok {
		t.Errorf("range (1, 5] still cached after a range up to 7")
	}
	l.cacheReceipts(receiptKey{room, 4, 6}, ev)
	if _, ok := l.cachedReceipts(receiptKey{room, 4, 6}); ok {
		t.Errorf("range (4, 6] cached after a range up to 7")
	}
	if _, ok := l.cachedReceipts(receiptKey{room, 5, 7}); !ok {
		t.Errorf("range (5, 7] not cached")
	}
	big := make(json.RawMessage, maxEncodedBytes/2+1)
	l.cacheReceipts(receiptKey{room, 3, 7}, big)
	l.cacheReceipts(receiptKey{room, 2, 7}, big)
	if _, ok := l.cachedReceipts(receiptKey{room, 3, 7}); ok || l.cacheBytes > maxEncodedBytes {
		t.Errorf("cache holds %d bytes, want at most %d", l.cacheBytes, maxEncodedBytes)
	}
}

// TestReceiptsByRoom checks the split of a range of receipts by room:
// rooms interleaved, in runs and alone, each room's indexes in order,
// replaced receipts left out, and no room's part reaching into another's.
func TestReceiptsByRoom(t *testing.T) {
	a, b, c := id.RoomID("!a:x"), id.RoomID("!b:x"), id.RoomID("!c:x")
	rooms := []id.RoomID{a, a, b, a, b, b, c, a, c}
	replaced := []bool{false, true, false, false, false, true, true, false, false}
	rcs := make([]store.Receipt, len(rooms))
	for i, r := range rooms {
		rcs[i] = store.Receipt{RoomID: r}
	}
	got := receiptsByRoom(rcs, replaced)
	want := map[id.RoomID][]int32{a: {0, 3, 7}, b: {2, 4}, c: {8}}
	if len(got) != len(want) {
		t.Fatalf("receiptsByRoom = %v, want %v", got, want)
	}
	for r, w := range want {
		if !slices.Equal(got[r], w) {
			t.Errorf("room %s: indexes %v, want %v", r, got[r], w)
		}
		// Appending to one room's part must not overwrite another's.
		if cap(got[r]) != len(got[r]) {
			t.Errorf("room %s: part has room for %d more", r, cap(got[r])-len(got[r]))
		}
	}
	if got := receiptsByRoom(rcs[:2], []bool{true, true}); len(got) != 0 {
		t.Errorf("receiptsByRoom of replaced receipts only = %v, want none", got)
	}
}
