package fedfetch

// Spec: Server-Server API § Backfilling and retrieving missing events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

import (
	"context"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Bounds of fetching the events inside a gap.
const (
	// GapFillMax is the most events fetched for one gap.
	GapFillMax = 500
	// GapFillTimeout bounds the fetches for one gap.
	GapFillTimeout = 20 * time.Second
	// gapFillBatch is the limit asked of one /backfill for a gap.
	gapFillBatch = 100
)

// Close stops the fetches running in the background (a fetch in flight
// is abandoned) and waits until they have stopped.
func (f *Fetcher) Close() {
	f.bg.Close()
}

// FillGapLater starts FillGap in the background; failures go to the log.
func (f *Fetcher) FillGapLater(srv id.ServerName, roomID id.RoomID, from []id.EventID) {
	f.bg.Go(func(ctx context.Context) {
		n, err := f.FillGap(ctx, srv, roomID, from)
		if err != nil {
			f.log().Warn("could not fetch the events of a gap", "origin", string(srv), "room_id", string(roomID), "events", n, "err", err)
			return
		}
		f.log().Debug("fetched the events of a gap", "origin", string(srv), "room_id", string(roomID), "events", n)
	})
}

// FillGap fetches from srv the events of roomID inside a gap whose state
// was fetched (see StateAfter), from the gap's missing events from
// backwards (/backfill), and stores them as history, until it reaches
// events this server has in the timeline, or GapFillMax events, or
// GapFillTimeout. It returns how many events entered the timeline. Where
// it stops before the gap is closed, /messages fetches on from there
// when a client pages down to it (store.DB.BackwardExtremities).
func (f *Fetcher) FillGap(ctx context.Context, srv id.ServerName, roomID id.RoomID, from []id.EventID) (int, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, GapFillTimeout)
	defer cancel()
	total, fetched := 0, 0
	for len(from) > 0 && fetched < GapFillMax {
		hist, n, err := f.backfillPiece(ctx, srv, v, roomID, from, min(gapFillBatch, GapFillMax-fetched))
		total += n
		if err != nil {
			return total, err
		}
		if len(hist) == 0 {
			break
		}
		fetched += len(hist)
		next, err := f.below(ctx, roomID, hist)
		if err != nil {
			return total, err
		}
		from = next
	}
	return total, nil
}

// below returns the prev events of a piece of history that are neither
// in it nor in the room's timeline: where the gap goes on.
func (f *Fetcher) below(ctx context.Context, roomID id.RoomID, piece []*event.PDU) ([]id.EventID, error) {
	in := map[id.EventID]bool{}
	for _, e := range piece {
		in[e.EventID()] = true
	}
	var prevs []id.EventID
	for _, e := range piece {
		for _, p := range e.PrevEvents() {
			if !in[p] {
				in[p] = true
				prevs = append(prevs, p)
			}
		}
	}
	if len(prevs) == 0 {
		return nil, nil
	}
	stored, err := f.DB.EventsByID(ctx, prevs)
	if err != nil {
		return nil, err
	}
	have := map[id.EventID]bool{}
	for _, e := range stored {
		if e.RoomID == roomID && !e.Outlier {
			have[e.EventID] = true
		}
	}
	var out []id.EventID
	for _, p := range prevs {
		if !have[p] {
			out = append(out, p)
		}
	}
	return out, nil
}
