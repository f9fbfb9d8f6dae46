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
