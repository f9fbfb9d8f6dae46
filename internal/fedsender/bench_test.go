package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// BenchmarkDelivery measures events of a local user delivered to a joined
// server per second, from room.Service.Send to the peer's recorded
// transaction (SQLite, loopback TLS, signed requests). The sends are
// sequential, so events/s is bounded by the event path; ms-after-last-send
// is how far delivery trails it.
func BenchmarkDelivery(b *testing.B) {
	h, p := run(b, sqliteDSN(b), time.Hour)
	roomID, _ := h.publicRoom(b)
	ctx := context.Background()
	ids := make([]id.EventID, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		ev, _, err := h.rooms.Send(ctx, roomID, room.Proposal{Type: "m.room.message", Sender: alice,
			Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"m%d"}`, i))})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, ev.EventID())
	}
	sentAt := time.Now()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		counts, _ := p.received()
		n := 0
		for _, e := range ids {
			if counts[e] > 0 {
				n++
			}
		}
		if n == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", n, len(ids))
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// How long delivery trailed the last send: the sender's own lag.
	b.ReportMetric(float64(time.Since(sentAt).Milliseconds()), "ms-after-last-send")
}

// BenchmarkCatchUpAfterReturn measures how long a destination that was
// down waits for what was queued for it once it is back, without
// contacting this server: the sender notices through its probe (default
// interval) instead of waiting out its backoff (an hour here). Each
// iteration takes the peer down, queues an event, waits for a failed
// attempt, brings the peer back and times the delivery.
func BenchmarkCatchUpAfterReturn(b *testing.B) {
	h := startHome(b, sqliteDSN(b), time.Hour)
	h.probe = 0 // the default interval
	h.peer = startPeer(b, h.key)
	h.open(b)
	b.Cleanup(h.close)
	p := h.peer
	roomID, _ := h.publicRoom(b)
	var total, worst time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// The last delivery is complete: no failures, nothing queued.
		for d := h.destination(b); d.Failures != 0 || d.Queued != 0; d = h.destination(b) {
			time.Sleep(time.Millisecond)
		}
		p.setDown(true)
		ev := h.send(b, roomID, fmt.Sprintf("away %d", i))
		h.waitFailures(b, 1)
		b.StartTimer()
		back := time.Now()
		p.setDown(false)
		p.waitFor(b, ev)
		d := time.Since(back)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/catch-up")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst")
}
