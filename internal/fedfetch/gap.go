package fedfetch

// Spec: Server-Server API § Backfilling and retrieving missing events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// Bounds of fetching the events inside a gap.
const (
	// GapFillMax is the most events fetched for one gap in the
	// background; /messages fetches the rest when a client pages down to
	// where the fetch stopped (FillHoles).
	GapFillMax = 500
	// GapFillTimeout bounds the fetches for one gap.
	GapFillTimeout = 20 * time.Second
	// gapFillBatch is the limit asked of one /backfill for a gap.
	gapFillBatch = 100
	// DefaultGapRetryBase is the wait before the first retry of a gap
	// fetch that failed; each failure doubles it, up to maxGapRetryWait.
	DefaultGapRetryBase = 10 * time.Second
	// maxGapRetryWait caps the wait between retries of a gap fetch.
	maxGapRetryWait = 10 * time.Minute
	// maxGapRetries is the most background retries of a gap fetch; after
	// them only /messages reaching the gap asks again.
	maxGapRetries = 20
	// defaultGapRetryPoll is how often the retrier looks for gap fetches
	// due again.
	defaultGapRetryPoll = 5 * time.Second
	// gapRetryBatch bounds the holes retried per look.
	gapRetryBatch = 20
)

// Close stops the fetches running in the background (a fetch in flight
// is abandoned) and waits until they have stopped.
func (f *Fetcher) Close() {
	f.bg.Close()
}

// StartRetrier starts retrying, in the background until Close, the gap
// fetches that failed (store.BackwardExtremity.RetryAt), those recorded
// before a restart included.
func (f *Fetcher) StartRetrier() {
	f.bg.Go(func(ctx context.Context) {
		poll := f.GapRetryPoll
		if poll <= 0 {
			poll = defaultGapRetryPoll
		}
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			f.RetryDueGaps(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// RetryDueGaps retries the failed gap fetches that are due (at most
// gapRetryBatch holes), one room and origin at a time; failures are
// recorded for the next retry and go to the log.
func (f *Fetcher) RetryDueGaps(ctx context.Context) {
	due, err := f.DB.BackwardExtremitiesDue(ctx, f.now().UnixMilli(), gapRetryBatch)
	if err != nil {
		f.log().Warn("could not read the gap fetches due", "err", err)
		return
	}
	type key struct {
		room   id.RoomID
		origin id.ServerName
	}
	var order []key
	groups := map[key][]store.BackwardExtremity{}
	for _, b := range due {
		k := key{b.RoomID, b.Origin}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], b)
	}
	for _, k := range order {
		if ctx.Err() != nil {
			return
		}
		n, _, err := f.fillHoles(ctx, k.room, groups[k], GapFillMax, GapFillTimeout)
		if err != nil {
			f.log().Warn("could not fetch the events of a gap", "origin", string(k.origin), "room_id", string(k.room), "events", n, "err", err)
			continue
		}
		f.log().Debug("fetched the events of a gap", "origin", string(k.origin), "room_id", string(k.room), "events", n)
	}
}

// maxGapFills bounds the gap fetches FillGapLater runs at once.
const maxGapFills = 4

// FillGapLater starts FillGap in the background, for a gap below an
// event that srv sent and the event path stored with the state after its
// missing prev events from (ProcessRemoteWithStates, which records them
// as holes in the room's history, store.BackwardExtremity). A fetch that
// fails is retried later (StartRetrier), and /messages fetches on from
// where it stopped (FillHoles).
//
// At most maxGapFills fetches run at once, one per room: a gap that
// arrives while its room's fetch runs, or while maxGapFills others run,
// is left to the retrier (its holes are recorded already), so that other
// servers' transactions cannot start fetches without bound.
func (f *Fetcher) FillGapLater(srv id.ServerName, roomID id.RoomID, from []id.EventID) {
	f.mu.Lock()
	if f.gapRooms[roomID] || len(f.gapRooms) >= maxGapFills {
		f.mu.Unlock()
		return
	}
	if f.gapRooms == nil {
		f.gapRooms = map[id.RoomID]bool{}
	}
	f.gapRooms[roomID] = true
	f.mu.Unlock()
	f.bg.Go(func(ctx context.Context) {
		defer func() {
			f.mu.Lock()
			delete(f.gapRooms, roomID)
			f.mu.Unlock()
		}()
		n, err := f.FillGap(ctx, srv, roomID, from)
		if err != nil {
			f.log().Warn("could not fetch the events of a gap", "origin", string(srv), "room_id", string(roomID), "events", n, "err", err)
			return
		}
		f.log().Debug("fetched the events of a gap", "origin", string(srv), "room_id", string(roomID), "events", n)
	})
}

// FillGap fetches from srv (then from the room's other servers) the
// events of roomID inside a gap, from the gap's missing events from
// backwards (/backfill), and stores them as history, until it reaches
// events this server has in the timeline, or GapFillMax events, or
// GapFillTimeout. It returns how many events entered the timeline. Where
// it stops before the gap is closed, the history's lowest events name
// missing prev events, recorded as holes (store.BackwardExtremity) that
// /messages fetches on from when a client pages down to them; a failed
// fetch is recorded on its holes for a retry with backoff.
func (f *Fetcher) FillGap(ctx context.Context, srv id.ServerName, roomID id.RoomID, from []id.EventID) (int, error) {
	holes := make([]store.BackwardExtremity, len(from))
	for i, eid := range from {
		holes[i] = store.BackwardExtremity{RoomID: roomID, EventID: eid, Origin: srv}
	}
	n, _, err := f.fillHoles(ctx, roomID, holes, GapFillMax, GapFillTimeout)
	return n, err
}

// FillHoles fetches the history inside the holes of roomID that a walk
// backwards from hi down to lo reaches (store.DB.BackwardExtremitiesBetween),
// up to limit events within RoomBackfillTimeout, from the server that sent
// the event above each hole, then the room's other servers. It returns how
// many events entered the timeline. /messages calls it, so that a client
// paging back through a gap of any depth sees its events in their place;
// it tries holes whose earlier fetches failed too. A hole found filled
// meanwhile (by the background fetch) counts as one event, so that the
// caller walks the timeline again.
func (f *Fetcher) FillHoles(ctx context.Context, roomID id.RoomID, lo, hi store.TopoPos, limit int) (int, error) {
	holes, err := f.DB.BackwardExtremitiesBetween(ctx, roomID, lo, hi)
	if err != nil || len(holes) == 0 {
		return 0, err
	}
	_, progress, err := f.fillHoles(ctx, roomID, holes, limit, RoomBackfillTimeout)
	return progress, err
}

// fillHoles fetches the history below holes of roomID, up to limit events
// within timeout, and records the outcome on the holes it could not fill.
// It returns how many events entered the timeline, and its progress: how
// many events of the holes' history the timeline holds now that it did
// not before the walk that found the holes, whether this fetch or another
// (the background fetch of the same gap) stored them.
func (f *Fetcher) fillHoles(ctx context.Context, roomID id.RoomID, holes []store.BackwardExtremity, limit int, timeout time.Duration) (stored, progress int, err error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	from := make([]id.EventID, 0, len(holes))
	for _, h := range holes {
		from = append(from, h.EventID)
	}
	// Holes filled meanwhile (by another fetch, or the missing event
	// arrived some other way) are forgotten.
	from, err = f.missing(ctx, roomID, from)
	if err != nil {
		return 0, 0, err
	}
	progress = len(holes) - len(from)
	servers, err := f.gapServers(ctx, roomID, holes)
	if err != nil {
		return 0, progress, err
	}
	fetched := 0
	for len(from) > 0 && fetched < limit {
		hist, n, err := f.backfillAny(ctx, servers, v, roomID, from, min(gapFillBatch, limit-fetched))
		stored += n
		if err != nil {
			f.failed(roomID, holes, from)
			return stored, progress, err
		}
		if len(hist) == 0 {
			// Answered, but with nothing below the holes: they stay,
			// and their retry backs off as after a failed fetch.
			f.failed(roomID, holes, from)
			break
		}
		// Each event answered is in the timeline now, stored by this
		// import or by another one before it.
		fetched += len(hist)
		progress += len(hist)
		next, err := f.below(ctx, roomID, hist)
		if err != nil {
			return stored, progress, err
		}
		from = next
	}
	return stored, progress, nil
}

// missing returns the events among ids not in roomID's timeline, and
// forgets the holes at the others.
func (f *Fetcher) missing(ctx context.Context, roomID id.RoomID, ids []id.EventID) ([]id.EventID, error) {
	stored, err := f.DB.EventsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	var have []id.EventID
	for _, e := range stored {
		if e.RoomID == roomID && e.StreamPos != 0 {
			have = append(have, e.EventID)
		}
	}
	if len(have) == 0 {
		return ids, nil
	}
	err = f.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.RemoveBackwardExtremities(ctx, roomID, have)
	})
	if err != nil {
		return nil, fmt.Errorf("forget filled holes of %s: %w", roomID, err)
	}
	return slices.DeleteFunc(ids, func(eid id.EventID) bool { return slices.Contains(have, eid) }), nil
}

// gapServers returns the servers to ask for the history below holes: the
// servers that sent the events above them, then the room's others.
func (f *Fetcher) gapServers(ctx context.Context, roomID id.RoomID, holes []store.BackwardExtremity) ([]id.ServerName, error) {
	var servers []id.ServerName
	for _, h := range holes {
		if h.Origin != "" && h.Origin != f.ServerName && !slices.Contains(servers, h.Origin) {
			servers = append(servers, h.Origin)
		}
	}
	others, err := f.DB.JoinedServers(ctx, roomID, f.ServerName)
	if err != nil {
		return nil, err
	}
	for _, d := range others {
		if !slices.Contains(servers, d) {
			servers = append(servers, d)
		}
	}
	return servers, nil
}

// backfillAny asks servers in turn for a piece of history (see
// backfillPiece) until one answers.
func (f *Fetcher) backfillAny(ctx context.Context, servers []id.ServerName, v *roomversion.Version, roomID id.RoomID, from []id.EventID, limit int) ([]*event.PDU, int, error) {
	var errs []error
	for _, srv := range servers {
		hist, n, err := f.backfillPiece(ctx, srv, v, roomID, from, limit)
		if err == nil {
			return hist, n, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, 0, fmt.Errorf("backfill %s: %w: no server to ask", roomID, ErrNoHistory)
	}
	return nil, 0, fmt.Errorf("backfill %s: %w: %w", roomID, ErrNoHistory, errors.Join(errs...))
}

// failed records a failed fetch on the holes at from (new holes are
// recorded as coming from the first hole's origin), so that the retrier
// tries again after a backoff.
func (f *Fetcher) failed(roomID id.RoomID, holes []store.BackwardExtremity, from []id.EventID) {
	failures := 0
	for _, h := range holes {
		failures = max(failures, h.Failures)
	}
	failures++
	var retryAt int64
	if failures <= maxGapRetries {
		retryAt = f.now().Add(f.retryWait(failures)).UnixMilli()
	}
	// The fetch's context may be what failed: the record gets its own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetBackwardExtremityRetry(ctx, roomID, from, failures, retryAt)
	})
	if err != nil {
		f.log().Warn("could not record a failed gap fetch", "room_id", string(roomID), "err", err)
	}
}

// retryWait is the wait before retry number n (from 1) of a gap fetch.
func (f *Fetcher) retryWait(n int) time.Duration {
	base := f.GapRetryBase
	if base <= 0 {
		base = DefaultGapRetryBase
	}
	w := base
	for i := 1; i < n && w < maxGapRetryWait; i++ {
		w *= 2
	}
	return min(w, maxGapRetryWait)
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
