package main

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
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
// up the next /sync. With an interval, a receipt also waits until that
// long after the previous one went out, as Element Web's do (at most one
// per 500 ms); the newest event seen by then is the one posted.
type receiptPoster struct {
	pending chan string // the newest event waiting for its receipt
	// closing ends the wait for the interval: the run is over, and the
	// last receipt goes out at once.
	closing chan struct{}
	done    chan struct{}
}

// startReceipts starts the poster of client c, which leaves interval (0:
// none) between the starts of two receipts. Its receipts use ctx, which
// outlives the syncer's polling so the last receipt still goes out.
func startReceipts(ctx context.Context, c *client, roomID string, interval time.Duration, counts *receiptCounts, errs *errorLog) *receiptPoster {
	p := &receiptPoster{pending: make(chan string, 1), closing: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var last time.Time
		for eventID := range p.pending {
			eventID = p.waitInterval(last.Add(interval), eventID, counts)
			last = time.Now()
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

// waitInterval waits until next (or until the poster closes) and returns
// the newest event by then: eventID, or one queued meanwhile, which
// supersedes it.
func (p *receiptPoster) waitInterval(next time.Time, eventID string, counts *receiptCounts) string {
	wait := time.Until(next)
	if wait <= 0 {
		return eventID
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.closing:
	}
	select {
	case newer, ok := <-p.pending:
		if ok {
			counts.superseded.Add(1)
			return newer
		}
	default:
	}
	return eventID
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

// close posts the queued receipt, if any, at once, and waits for the
// poster to end.
func (p *receiptPoster) close() {
	close(p.closing)
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
