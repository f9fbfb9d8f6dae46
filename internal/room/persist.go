package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/store"
)

// entry is one event of a batch, checked in memory, not yet committed.
type entry struct {
	req  *request
	pdu  *event.PDU
	prop Proposal // the local proposal; zero for remote events
	// verdict is Accept, SoftFail or Reject; why says why it is not
	// Accept.
	verdict pducheck.Verdict
	why     error
	// before is the state before the event; nil when it is the room's
	// current state at the event's turn in the batch.
	before stateMap
	// stateKnown is false for an event rejected before its state was
	// computed (it gets no state group).
	stateKnown bool
	// linear marks an accepted state event on top of the current state:
	// the current state changes by this one entry.
	linear bool
	// current, when set, is the room's current state after the event,
	// resolved across the new forward extremities.
	current stateMap
	// redacted is the redacted form of the current state event this
	// redaction applies to, if any; markRedacted tells whether the
	// redaction applies to its target at all.
	redacted     *event.PDU
	markRedacted bool
	// pos is the stream position once committed (0 unless accepted).
	pos int64
	// groupBefore is the state group before the event once stored (0 if
	// its state is not known).
	groupBefore int64
}

// persist writes a batch of checked events of one room in one transaction:
// each event with the state group before it, the state groups of the
// current state as it changes, current state, memberships, redactions,
// transaction IDs and the forward extremities o ends with. The head is
// fenced: the room's generation must still be the one rs read, otherwise
// nothing is written and the error wraps store.ErrStale. newRoom, when
// set, creates the room row and its alias in the same transaction (and
// registers rs for the room). Right after the commit it advances rs to o
// and publishes the events to the stream. On any error the head is marked
// unloaded, so that the next
// batch reads it from the database. The caller holds rs.mu.
func (s *Service) persist(ctx context.Context, roomID id.RoomID, rs *roomState, o *overlay, entries []*entry, newRoom *newRoomRecord) error {
	var (
		group   int64
		newNIDs map[event.StateKey]int64
	)
	out := make([]Persisted, 0, len(entries))
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		out = out[:0]
		if newRoom != nil {
			if err := newRoom.write(ctx, tx); err != nil {
				return err
			}
		}
		group = rs.stateGroup
		if group == 0 {
			// A new room: its create event follows the empty state.
			var err error
			if group, err = tx.StoreStateGroup(ctx, roomID, 0, nil); err != nil {
				return fmt.Errorf("store empty state of %s: %w", roomID, err)
			}
		}
		w := &stateWriter{tx: tx, roomID: roomID, rs: rs, batchNIDs: map[id.EventID]int64{}}
		newNIDs = map[event.StateKey]int64{}
		// The batch's events first, with one statement where the backend
		// allows (one round trip on PostgreSQL); what refers to them
		// follows.
		recs := make([]store.EventRecord, len(entries))
		for i, en := range entries {
			pdu := en.pdu
			recs[i] = store.EventRecord{
				EventID:        pdu.EventID(),
				RoomID:         roomID,
				Type:           pdu.Type(),
				Sender:         pdu.Sender(),
				Depth:          pdu.Depth(),
				OriginServerTS: pdu.OriginServerTS(),
				JSON:           pdu.JSON(),
				Rejected:       en.verdict == pducheck.Reject,
				SoftFailed:     en.verdict == pducheck.SoftFail,
				TxnDeviceID:    en.prop.DeviceID,
				TxnID:          en.prop.TxnID,
			}
			if sk, ok := pdu.StateKey(); ok {
				recs[i].StateKey = &sk
			}
		}
		// When no statement of the batch needs the events' NIDs, the
		// insert may travel with the rest of the transaction (one round
		// trip on PostgreSQL) and the positions arrive before the commit
		// is announced.
		byID := nidsNotNeeded(entries)
		var inserted []store.InsertedEvent
		var err error
		if byID {
			err = tx.InsertEventsLater(ctx, recs, func(ins []store.InsertedEvent) {
				for i, en := range entries {
					en.pos = ins[i].StreamPos
				}
			})
		} else {
			inserted, err = tx.InsertEvents(ctx, recs)
		}
		if err != nil {
			return fmt.Errorf("insert events of %s: %w", roomID, err)
		}
		if err := addGapHoles(ctx, tx, entries, s.now().Add(GapFetchGrace).UnixMilli()); err != nil {
			return err
		}
		for i, en := range entries {
			pdu := en.pdu
			var nid int64
			if !byID {
				nid = inserted[i].NID
				w.batchNIDs[pdu.EventID()] = nid
				en.pos = inserted[i].StreamPos
			}
			// A batch without NIDs holds no relations (nidsNotNeeded).
			// The events' text is indexed for search off this path, by
			// search.Indexer's stream consumer.
			if !byID && en.pos > 0 {
				if rel, ok := relationRecord(pdu, nid, en.pos); ok {
					if err := tx.AddRelation(ctx, rel); err != nil {
						return err
					}
				}
			}
			if en.stateKnown {
				before := group
				if en.before != nil {
					if before, err = w.group(ctx, group, en.before); err != nil {
						return fmt.Errorf("store state before %s: %w", pdu.EventID(), err)
					}
				}
				en.groupBefore = before
				// The event a state event replaces is recorded for
				// prev_content; before a fork's state it is left unknown.
				replaces := store.ReplacesUnknown
				if pdu.IsState() && en.before == nil {
					replaces = w.currentNID(pdu.StateKeyTuple(), newNIDs)
				}
				if byID {
					err = tx.SetEventStateOf(ctx, pdu.EventID(), before, replaces)
				} else {
					err = tx.SetEventStateReplacing(ctx, nid, before, replaces)
				}
				if err != nil {
					return fmt.Errorf("record state before %s: %w", pdu.EventID(), err)
				}
			}
			switch {
			case en.linear:
				k := pdu.StateKeyTuple()
				sk := store.StateKey{Type: k.Type, StateKey: k.StateKey}
				group, err = tx.StoreStateGroup(ctx, roomID, group, map[store.StateKey]int64{sk: nid})
				if err != nil {
					return fmt.Errorf("store state after %s: %w", pdu.EventID(), err)
				}
				if err := tx.UpdateCurrentState(ctx, roomID, map[store.StateKey]int64{sk: nid}); err != nil {
					return fmt.Errorf("set current state %s: %w", pdu.EventID(), err)
				}
				if k.Type == "m.room.member" {
					m := store.Member{RoomID: roomID, UserID: id.UserID(k.StateKey), Membership: authrules.MembershipOf(pdu), EventNID: nid, StreamPos: en.pos}
					if err := tx.SetMembership(ctx, m); err != nil {
						return fmt.Errorf("set membership %s: %w", pdu.EventID(), err)
					}
				}
				w.changed(k, pdu.EventID(), nid)
				newNIDs[k] = nid
			case en.current != nil:
				if group, err = w.setCurrent(ctx, group, en.current, newNIDs); err != nil {
					return fmt.Errorf("resolve current state after %s: %w", pdu.EventID(), err)
				}
			}
			if en.markRedacted {
				if err := markRedacted(ctx, tx, roomID, pdu.Redacts(), pdu.EventID()); err != nil {
					return err
				}
			}
			if p := en.prop; p.TxnID != "" {
				k := store.TxnKey{UserID: p.Sender, DeviceID: p.DeviceID, Scope: p.TxnScope, TxnID: p.TxnID}
				if err := tx.AddTxnID(ctx, k, pdu.EventID(), pdu.OriginServerTS()); err != nil {
					return fmt.Errorf("record txn id %s: %w", p.TxnID, err)
				}
			}
		}
		if !sameExtremities(o.extremities, rs.extremities) {
			ids := make([]id.EventID, len(o.extremities))
			for i, e := range o.extremities {
				ids[i] = e.EventID()
			}
			if err := tx.SetExtremities(ctx, roomID, ids); err != nil {
				return fmt.Errorf("set extremities of %s: %w", roomID, err)
			}
		}
		// The fence: nothing of this batch commits unless the head it was
		// built on is still the room's head in the database.
		if err := tx.AdvanceRoomHead(ctx, roomID, rs.generation, group); err != nil {
			return err
		}
		// Once committed, and before any later commit is announced: the
		// head moves on and the events are published, so that consumers
		// see every room's events in stream order. The caller still holds
		// rs.mu, waiting in Write.
		tx.AfterCommit(func() {
			for _, en := range entries {
				if en.verdict == pducheck.Accept {
					out = append(out, Persisted{PDU: en.pdu, StreamPos: en.pos, DeviceID: en.prop.DeviceID, TxnID: en.prop.TxnID,
						StateGroupBefore: en.groupBefore, GapBelow: len(en.gapBelow()) > 0})
				}
			}
			advanceHead(rs, o, entries, newNIDs, group)
			if newRoom != nil {
				s.mu.Lock()
				s.rooms[roomID] = rs
				s.mu.Unlock()
			}
			if len(out) > 0 {
				s.notify(out)
			}
		})
		return nil
	})
	if err != nil {
		// Whether or not anything committed (a failed COMMIT is
		// ambiguous), the head in memory may no longer be the one in the
		// database: read it afresh next time. Consumers must not trust
		// the published batches to be complete until the next one.
		rs.unload()
		s.stream.Invalidate()
		return err
	}
	return nil
}

// nidsNotNeeded reports whether persisting entries needs none of their
// NIDs inside the transaction: they are message events on top of the
// current state, which no state group, current state, membership or
// relation refers to.
func nidsNotNeeded(entries []*entry) bool {
	for _, en := range entries {
		if en.pdu.IsState() || en.before != nil || en.linear || en.current != nil {
			return false
		}
		if _, ok := relationRecord(en.pdu, 0, 0); ok {
			return false
		}
	}
	return true
}

// sameExtremities reports whether a and b hold the same events.
func sameExtremities(a, b []*event.PDU) bool {
	if len(a) != len(b) {
		return false
	}
	for _, e := range a {
		if !slices.ContainsFunc(b, func(x *event.PDU) bool { return x.EventID() == e.EventID() }) {
			return false
		}
	}
	return true
}

// advanceHead moves a room's in-memory head to o, the committed batch's
// result.
func advanceHead(rs *roomState, o *overlay, entries []*entry, nids map[event.StateKey]int64, group int64) {
	rs.head.Lock()
	defer rs.head.Unlock()
	if rs.state == nil {
		rs.state = map[event.StateKey]*event.PDU{}
		rs.stateNIDs = map[event.StateKey]int64{}
	}
	for k, pdu := range o.state {
		if pdu == nil {
			delete(rs.state, k)
			delete(rs.stateNIDs, k)
			continue
		}
		rs.state[k] = pdu
		rs.stateNIDs[k] = nids[k]
	}
	// Redactions reach the head: a redacted state event is served in its
	// redacted form from now on, as the store serves it.
	for _, en := range entries {
		if en.markRedacted {
			rs.hdrEpoch++
		}
		if r := en.redacted; r != nil {
			k := r.StateKeyTuple()
			if cur := rs.state[k]; cur != nil && cur.EventID() == r.EventID() {
				rs.state[k] = r
			}
		}
	}
	rs.extremities = o.extremities
	rs.stateGroup = group
	rs.generation++
}

// stateWriter stores state groups of arbitrary states within one persist,
// as deltas against the group of the room's current state.
type stateWriter struct {
	tx     *store.Tx
	roomID id.RoomID
	rs     *roomState
	// batchNIDs are the NIDs of the events inserted so far.
	batchNIDs map[id.EventID]int64
	// cur is the current state as event IDs and NIDs, made on first use
	// from the head and kept up to date by changed and setCurrent.
	cur map[event.StateKey]idNID
}

type idNID struct {
	id  id.EventID
	nid int64
}

func (w *stateWriter) current() map[event.StateKey]idNID {
	if w.cur == nil {
		w.cur = make(map[event.StateKey]idNID, len(w.rs.state))
		for k, pdu := range w.rs.state {
			w.cur[k] = idNID{pdu.EventID(), w.rs.stateNIDs[k]}
		}
	}
	return w.cur
}

// currentNID returns the NID at k in the current state as the events of
// the persist so far left it, or 0 if k is not in it. newNIDs are the
// persist's changes of the current state.
func (w *stateWriter) currentNID(k event.StateKey, newNIDs map[event.StateKey]int64) int64 {
	if w.cur != nil {
		return w.cur[k].nid
	}
	if nid, ok := newNIDs[k]; ok {
		return nid
	}
	return w.rs.stateNIDs[k]
}

// changed records a linear change of the current state.
func (w *stateWriter) changed(k event.StateKey, eid id.EventID, nid int64) {
	if w.cur != nil {
		w.cur[k] = idNID{eid, nid}
	}
}

// delta returns the changes that turn the current state into st, as NIDs
// (0 removes a key).
func (w *stateWriter) delta(ctx context.Context, st stateMap) (map[store.StateKey]int64, map[event.StateKey]idNID, error) {
	cur := w.current()
	changes := map[event.StateKey]idNID{}
	var missing []id.EventID
	for k, pdu := range st {
		if c, ok := cur[k]; ok && c.id == pdu.EventID() {
			continue
		}
		nid, ok := w.batchNIDs[pdu.EventID()]
		if !ok {
			missing = append(missing, pdu.EventID())
		}
		changes[k] = idNID{pdu.EventID(), nid}
	}
	for k := range cur {
		if _, ok := st[k]; !ok {
			changes[k] = idNID{}
		}
	}
	if len(missing) > 0 {
		found, err := w.tx.EventNIDs(ctx, missing)
		if err != nil {
			return nil, nil, err
		}
		for k, c := range changes {
			if c.id != "" && c.nid == 0 {
				nid, ok := found[c.id]
				if !ok {
					return nil, nil, fmt.Errorf("state event %s is not stored", c.id)
				}
				changes[k] = idNID{c.id, nid}
			}
		}
	}
	out := make(map[store.StateKey]int64, len(changes))
	for k, c := range changes {
		out[store.StateKey{Type: k.Type, StateKey: k.StateKey}] = c.nid
	}
	return out, changes, nil
}

// group stores st as a state group (a delta against curGroup, the group of
// the current state) and returns it.
func (w *stateWriter) group(ctx context.Context, curGroup int64, st stateMap) (int64, error) {
	d, _, err := w.delta(ctx, st)
	if err != nil {
		return 0, err
	}
	return w.tx.StoreStateGroup(ctx, w.roomID, curGroup, d)
}

// setCurrent makes st the room's current state (state group, current
// state rows, memberships) and returns its group.
func (w *stateWriter) setCurrent(ctx context.Context, curGroup int64, st stateMap, newNIDs map[event.StateKey]int64) (int64, error) {
	d, changes, err := w.delta(ctx, st)
	if err != nil {
		return 0, err
	}
	if len(d) == 0 {
		return curGroup, nil
	}
	g, err := w.tx.StoreStateGroup(ctx, w.roomID, curGroup, d)
	if err != nil {
		return 0, err
	}
	if err := w.tx.UpdateCurrentState(ctx, w.roomID, d); err != nil {
		return 0, err
	}
	for k, c := range changes {
		if c.nid == 0 {
			delete(w.cur, k)
			newNIDs[k] = 0
			continue
		}
		w.cur[k] = c
		newNIDs[k] = c.nid
		if k.Type != "m.room.member" {
			continue
		}
		ev, err := w.tx.Event(ctx, c.id)
		if err != nil {
			return 0, err
		}
		m := store.Member{RoomID: w.roomID, UserID: id.UserID(k.StateKey), Membership: authrules.MembershipOf(st[k]), EventNID: c.nid, StreamPos: ev.StreamPos}
		if err := w.tx.SetMembership(ctx, m); err != nil {
			return 0, err
		}
	}
	return g, nil
}

// markRedacted records that a redaction applies to its target, so every
// read path serves the target redacted. A target this server does not have,
// or one in another room, is left alone: the redaction applies to nothing.
// The caller has checked the sender may redact the target (its own event,
// or the room's redact power level).
func markRedacted(ctx context.Context, tx *store.Tx, roomID id.RoomID, target, redaction id.EventID) error {
	ev, err := tx.Event(ctx, target)
	if errors.Is(err, store.ErrNotFound) || err == nil && ev.RoomID != roomID {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load redaction target %s: %w", target, err)
	}
	if err := tx.SetRedactedBecause(ctx, target, redaction); err != nil {
		return fmt.Errorf("mark %s redacted: %w", target, err)
	}
	// A redacted child no longer relates to its parent, and its text
	// leaves the search index (an event the index has not reached yet is
	// skipped by it, see store.IndexEventTexts).
	if err := tx.DeleteRelation(ctx, ev.NID); err != nil {
		return fmt.Errorf("mark %s redacted: %w", target, err)
	}
	if err := tx.QueueSearchRemoval(ctx, ev.NID); err != nil {
		return fmt.Errorf("mark %s redacted: %w", target, err)
	}
	return nil
}

// GapFetchGrace is how long after a gap is filled with state its holes
// wait for the fetch of the gap's events started at once before the
// retrier (fedfetch) takes them on, should that fetch not finish.
const GapFetchGrace = time.Minute

// addGapHoles records, for the accepted remote events stored with the
// state after prev events fetched from another server (a gap this server
// could not close), those prev events as holes in the room's history
// (store.BackwardExtremity), in the transaction that stores the events:
// a client paging back with /messages finds the hole as soon as it can
// see the event above it. Their fetch is due at retryAt: the fetch the
// caller starts at once (fedfetch.Fetcher.FillGapLater) fills them
// before then, and if it cannot finish (the server stops) the retrier
// fetches them then.
//
// Each such event is marked as lying above a gap (store.Tx.MarkGapBelow),
// so that sync starts a limited timeline at it.
func addGapHoles(ctx context.Context, tx *store.Tx, entries []*entry, retryAt int64) error {
	for _, en := range entries {
		missing := en.gapBelow()
		if len(missing) == 0 {
			continue
		}
		if err := tx.AddBackwardExtremities(ctx, en.pdu.EventID(), missing, en.req.remote.origin, retryAt); err != nil {
			return err
		}
		if err := tx.MarkGapBelow(ctx, en.pdu.EventID()); err != nil {
			return err
		}
	}
	return nil
}

// gapBelow returns the prev events of an accepted remote event taken with
// the state after them because this server could not fetch them
// (ProcessRemoteWithStates): the gap below it. It returns nil for any
// other event.
func (en *entry) gapBelow() []id.EventID {
	if en.verdict != pducheck.Accept || en.req == nil || en.req.remote == nil || len(en.req.remote.prevStates) == 0 {
		return nil
	}
	var missing []id.EventID
	for _, p := range en.pdu.PrevEvents() {
		if _, ok := en.req.remote.prevStates[p]; ok {
			missing = append(missing, p)
		}
	}
	return missing
}
