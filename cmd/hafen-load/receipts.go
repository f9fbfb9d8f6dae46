package main

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
)

// postReceipt moves the user's m.read receipt in the room to eventID.
func (c *client) postReceipt(ctx context.Context, roomID, eventID string) error {
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/receipt/m.read/" + url.PathEscape(eventID)
	return c.do(ctx, requestTimeout, http.MethodPost, path, nil, struct{}{}, nil)
}

// receiptCounts counts the receipts of a run.
type receiptCounts struct {
	sent, failed, superseded atomic.Int64
}

// receiptPoster posts one syncer's read receipts beside its /sync loop, as
// a client does: at most one receipt is in flight, and a newer event seen
// meanwhile replaces the one still waiting, so a slow receipt never holds
// up the next /sync.
type receiptPoster struct {
	pending chan string // the newest event waiting for its receipt
	done    chan struct{}
}

// startReceipts starts the poster of client c. Its receipts use ctx, which
// outlives the syncer's polling so the last receipt still goes out.
func startReceipts(ctx context.Context, c *client, roomID string, counts *receiptCounts, errs *errorLog) *receiptPoster {
	p := &receiptPoster{pending: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for eventID := range p.pending {
			if err := c.postReceipt(ctx, roomID, eventID); err != nil {
				counts.failed.Add(1)
				errs.add("receipt", err)
				continue
			}
			counts.sent.Add(1)
		}
	}()
	return p
}

// read queues a receipt for eventID, replacing a queued older one. Only the
// syncer that owns p calls it.
func (p *receiptPoster) read(eventID string, counts *receiptCounts) {
	select {
	case <-p.pending:
		counts.superseded.Add(1)
	default:
	}
	p.pending <- eventID // cannot block: only this caller sends
}

// close posts the queued receipt, if any, and waits for the poster to end.
func (p *receiptPoster) close() {
	close(p.pending)
	<-p.done
}

// newestMessage returns the ID of the last m.room.message of events, or "".
func newestMessage(events []syncEvent) string {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Type == "m.room.message" && events[i].EventID != "" {
			return events[i].EventID
		}
	}
	return ""
}
