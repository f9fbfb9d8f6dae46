package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// batch is one run of a room's pending requests: built and checked in
// order against the head as the earlier requests left it (the overlay),
// then persisted in one transaction.
type batch struct {
	s      *Service
	ctx    context.Context
	roomID id.RoomID
	rs     *roomState
	v      *roomversion.Version
	o      *overlay

	entries []*entry
	// results are the outcomes decided without the persist (errors,
	// retried transactions answered from memory), by request.
	results map[*request]result
	// retries are requests repeating a transaction of an earlier request
	// of the same batch; they get its outcome.
	retries []*request
	inBatch map[txnKey]bool

	// dag holds what the batch knows of the room's graph beyond the head;
	// it is made on first use by events that are not on top of the head.
	dag *dagView
}

// maxStaleAttempts bounds how often a batch is built and persisted when
// the fence keeps refusing it because another writer (another process on
// the same database) advanced the room in between. Each attempt reloads
// the head first, so only a room written to faster than one batch can be
// built and persisted runs out of attempts.
const maxStaleAttempts = 4

// processBatch builds and checks the batch's requests, persists the
// accepted ones in one transaction (which advances the head), and delivers
// every request's result. A persist refused because the head was stale
// (another writer advanced the room) reloads the head and runs the batch
// again, up to maxStaleAttempts times in all; after that every request of
// the batch fails with an error wrapping ErrContended. The caller holds
// rs.mu.
func (s *Service) processBatch(ctx context.Context, roomID id.RoomID, rs *roomState, reqs []*request) {
	var (
		b   *batch
		err error
	)
	learned := false
	for attempt := 1; ; attempt++ {
		if err = s.ensureLoaded(ctx, roomID, rs); err != nil {
			b = nil
			break
		}
		b = s.newBatch(ctx, roomID, rs)
		for _, req := range reqs {
			if req.remote != nil {
				// Remote events may name any event of the batch as a
				// prev event: record the state after each from the start.
				b.dagView()
				break
			}
		}
		for _, req := range reqs {
			b.add(req)
		}
		if s.beforePersist != nil {
			s.beforePersist(roomID, attempt)
		}
		start := time.Now()
		err = b.persist()
		rs.recordBatch(reqs, time.Since(start))
		if errors.Is(err, store.ErrExists) && !learned {
			// A transaction of the batch was recorded before this head
			// remembers (before a restart, an eviction or the retry
			// window): learn the batch's transactions from the store and
			// build the batch again, so the retries get their original
			// events and the other requests are not failed with them.
			learned = true
			found, lerr := s.learnStoredTxns(ctx, rs, b.entries)
			if lerr != nil {
				s.log.Warn("look up stored transactions failed", "room_id", roomID, "err", lerr)
			}
			if found {
				continue
			}
		}
		if !errors.Is(err, store.ErrStale) {
			break
		}
		if attempt >= maxStaleAttempts {
			s.log.Warn("room head stale at every attempt, giving up", "room_id", roomID, "attempts", attempt)
			err = fmt.Errorf("persist to %s after %d attempts: %w: %w", roomID, attempt, ErrContended, err)
			break
		}
		s.log.Info("room head was stale, retrying with the stored head", "room_id", roomID, "attempts", attempt)
	}
	if b == nil {
		for _, req := range reqs {
			req.done <- result{err: err}
		}
		return
	}
	b.deliver(reqs, err)
}

func (s *Service) newBatch(ctx context.Context, roomID id.RoomID, rs *roomState) *batch {
	return &batch{
		s: s, ctx: ctx, roomID: roomID, rs: rs, v: rs.version,
		o:       newOverlay(rs),
		results: map[*request]result{},
		inBatch: map[txnKey]bool{},
	}
}

// add builds and checks one request on top of the batch so far.
func (b *batch) add(req *request) {
	if req.remote != nil {
		b.addRemote(req)
		return
	}
	key, hasTxn := req.prop.txnKey()
	if hasTxn {
		if eid, ok := b.rs.txns.get(key); ok {
			b.results[req] = b.s.storedResult(b.ctx, eid, b.v)
			return
		}
		if b.inBatch[key] {
			b.retries = append(b.retries, req)
			return
		}
	}
	prevs := b.o.prevEvents()
	var before stateReader = b.o
	var beforeMap stateMap
	if len(prevs) < len(b.o.extremities) {
		// More forks than one event may reference: the state before is
		// that of the chosen prev_events, not the current state.
		var err error
		if beforeMap, err = b.dagView().stateBefore(ids(prevs)); err != nil {
			b.results[req] = result{err: err}
			return
		}
		before = beforeMap
	}
	pdu, err := b.s.buildAndCheck(b.roomID, b.v, before, prevs, req.prop)
	if err != nil {
		b.results[req] = result{err: err}
		return
	}
	en := &entry{req: req, pdu: pdu, prop: req.prop, verdict: pducheck.Accept, stateKnown: true}
	if beforeMap == nil {
		b.acceptLinear(en)
	} else if err := b.acceptForked(en, beforeMap); err != nil {
		b.results[req] = result{err: err}
		return
	}
	b.entries = append(b.entries, en)
	if hasTxn {
		b.inBatch[key] = true
	}
}

// acceptLinear applies an accepted event whose prev_events are all the
// forward extremities: the state before it is the current state.
func (b *batch) acceptLinear(en *entry) {
	pdu := en.pdu
	if b.dag != nil {
		b.dag.recordAfter(pdu, b.o.current())
	}
	en.linear = pdu.IsState()
	b.redaction(en)
	b.o.applyLinear(pdu)
}

// acceptForked applies an accepted event on a fork: the forward
// extremities become those it does not reference plus itself, and the
// current state is resolved across them.
func (b *batch) acceptForked(en *entry, before stateMap) error {
	pdu := en.pdu
	d := b.dagView()
	after := d.recordAfter(pdu, before)
	en.before = before
	ext := b.o.extremitiesAfter(pdu)
	cur := after
	if len(ext) > 1 {
		var err error
		if cur, err = d.stateBefore(ids(ext)); err != nil {
			return err
		}
	}
	b.redaction(en)
	en.current = cur
	b.o.setCurrent(cur)
	b.o.extremities = ext
	return nil
}

// redaction decides what an accepted redaction does: it is recorded on its
// target, and a target in the current state is replaced by its redacted
// form in the head once committed.
func (b *batch) redaction(en *entry) {
	pdu := en.pdu
	target := pdu.Redacts()
	if pdu.Type() != "m.room.redaction" || target == "" {
		return
	}
	en.markRedacted = true
	var inState *event.PDU
	for _, ev := range b.o.current() {
		if ev.EventID() == target {
			inState = ev
			break
		}
	}
	if en.req != nil && en.req.remote != nil {
		t := inState
		if t == nil {
			t, _ = b.dagView().lookup(target)
		}
		if t == nil || !b.mayRedact(pdu, t) {
			// TODO(#8): a redaction that arrives before its target
			// applies once the target arrives.
			en.markRedacted = false
			return
		}
	}
	if inState == nil {
		return
	}
	raw, err := event.Redact(inState.JSON(), b.v)
	if err != nil {
		return
	}
	if r, err := event.ParseTrusted(raw, b.v, inState.EventID()); err == nil {
		en.redacted = r
	}
}

// persist writes the batch's events.
func (b *batch) persist() error {
	if len(b.entries) == 0 {
		return nil
	}
	return b.s.persist(b.ctx, b.roomID, b.rs, b.o, b.entries, nil)
}

// deliver hands every request its result once the batch is persisted
// (err nil) or not.
func (b *batch) deliver(reqs []*request, err error) {
	now := b.s.now()
	if err == nil {
		for _, en := range b.entries {
			if key, ok := en.prop.txnKey(); ok {
				b.rs.txns.put(key, en.pdu.EventID(), now)
			}
		}
	}
	for _, en := range b.entries {
		if err != nil {
			en.req.done <- result{err: err}
			continue
		}
		var verr error
		switch en.verdict {
		case pducheck.Reject:
			verr = fmt.Errorf("%w: rejected: %w", ErrForbidden, en.why)
		case pducheck.SoftFail:
			verr = fmt.Errorf("soft failed: %w", en.why)
		}
		en.req.done <- result{pdu: en.pdu, pos: en.pos, verdict: en.verdict, err: verr}
	}
	for req, r := range b.results {
		req.done <- r
	}
	// Retries within the batch get their original's outcome.
	for _, req := range b.retries {
		key, _ := req.prop.txnKey()
		var orig *entry
		for _, en := range b.entries {
			if k, ok := en.prop.txnKey(); ok && k == key {
				orig = en
				break
			}
		}
		if err == nil && orig != nil {
			req.done <- result{pdu: orig.pdu, pos: orig.pos}
		} else {
			req.done <- result{err: fmt.Errorf("%w: the original of this transaction failed", ErrInvalidRequest)}
		}
	}
}

// learnStoredTxns looks up in the store the client transactions of a batch's
// local events and remembers those already recorded in the room's head, so
// that the next build answers them as retries. It reports whether it found
// any. The caller holds rs.mu.
func (s *Service) learnStoredTxns(ctx context.Context, rs *roomState, entries []*entry) (bool, error) {
	now, found := s.now(), false
	for _, en := range entries {
		key, ok := en.prop.txnKey()
		if !ok {
			continue
		}
		p := en.prop
		eid, err := s.db.TxnEventID(ctx, store.TxnKey{UserID: p.Sender, DeviceID: p.DeviceID, Scope: p.TxnScope, TxnID: p.TxnID})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return found, fmt.Errorf("look up transaction %s: %w", p.TxnID, err)
		}
		rs.txns.put(key, eid, now)
		found = true
	}
	return found, nil
}

// storedResult answers a retried transaction with its event, read from the
// store.
func (s *Service) storedResult(ctx context.Context, eid id.EventID, v *roomversion.Version) result {
	evs, err := s.db.EventsByID(ctx, []id.EventID{eid})
	if err != nil {
		return result{err: err}
	}
	if len(evs) != 1 {
		return result{err: fmt.Errorf("event %s of a recent transaction is not stored", eid)}
	}
	pdu, err := event.ParseTrusted(evs[0].JSON, v, eid)
	if err != nil {
		return result{err: err}
	}
	return result{pdu: pdu, pos: evs[0].StreamPos}
}

// ids returns the IDs of events.
func ids(evs []*event.PDU) []id.EventID {
	out := make([]id.EventID, len(evs))
	for i, e := range evs {
		out[i] = e.EventID()
	}
	return out
}
