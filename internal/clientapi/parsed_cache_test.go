package clientapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// The parsed-event cache hands back what it was given, keeps an event
// still asked for across generations, and drops the others: it never
// holds much more than two generations of JSON.
func TestParsedCacheKeepsRecentAndStaysBounded(t *testing.T) {
	v := roomversion.Default
	body := strings.Repeat("x", 4000)
	pdu := func(i int) (id.EventID, *event.PDU) {
		eid := id.EventID(fmt.Sprintf("$e%d", i))
		raw := fmt.Sprintf(`{"type":"m.room.message","sender":"@a:hafen.test","room_id":"!r:hafen.test","content":{"body":%q},"depth":%d,"origin_server_ts":1,"prev_events":[],"auth_events":[]}`, body, i+1)
		p, err := event.ParseTrusted([]byte(raw), v, eid)
		if err != nil {
			t.Fatal(err)
		}
		return eid, p
	}
	var c parsedCache
	keepID, keep := pdu(0)
	c.add(keepID, keep)
	n := 3 * parsedCacheBytes / 4000
	for i := 1; i <= n; i++ {
		eid, p := pdu(i)
		c.add(eid, p)
		if c.get(keepID) != keep {
			t.Fatalf("after %d events the cache lost an event asked for each time", i)
		}
	}
	first, _ := pdu(1)
	if c.get(first) != nil {
		t.Error("an event not asked for survived two generations")
	}
	c.mu.Lock()
	size := 0
	for _, p := range c.cur {
		size += len(p.JSON())
	}
	for _, p := range c.prev {
		size += len(p.JSON())
	}
	c.mu.Unlock()
	if size > 2*parsedCacheBytes+8000 {
		t.Errorf("cache holds %d bytes of JSON, bound %d", size, 2*parsedCacheBytes)
	}
}
