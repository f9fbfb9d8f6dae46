package room

// Spec: Server-Server API § Checks performed on receipt of a PDU, § Soft failure
// https://spec.matrix.org/v1.19/server-server-api/#checks-performed-on-receipt-of-a-pdu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
)

// remoteEvent is a PDU received from another server.
type remoteEvent struct {
	origin id.ServerName
	raw    json.RawMessage
	// parsed is raw parsed by the caller (ProcessParsed), nil otherwise.
	parsed *event.PDU
	// prevStates are the states after prev events this server does not
	// have with their state, fetched from another server.
	prevStates map[id.EventID]StateIDs
}

// RemoteResult is the outcome of one PDU given to ProcessRemote.
type RemoteResult struct {
	// EventID is the event's ID; empty when the PDU was dropped before it
	// could be computed.
	EventID id.EventID
	// Verdict is pducheck.Drop (not stored), Reject (stored as rejected),
	// SoftFail (stored, not shown to clients, not a forward extremity) or
	// Accept (stored, in the timeline, published to the stream).
	Verdict pducheck.Verdict
	// Err says why the verdict is not Accept, or why the PDU could not be
	// processed at all (unknown room, missing prev_events, store errors).
	Err error
}

// ProcessRemote runs PDUs that arrived from origin through the checks on
// receipt (pducheck: format, signatures, content hash, auth against the
// auth events, auth against the state before, soft failure against the
// current state), computes the state before each from its prev_events
// (resolving forks with the room version's state resolution), and persists
// them through the same room lock, batches and stream as local events.
// PDUs of one room are processed in the order given, so a PDU may name an
// earlier one as a prev event. It returns one result per PDU, in order.
func (s *Service) ProcessRemote(ctx context.Context, origin id.ServerName, pdus []json.RawMessage) []RemoteResult {
	return s.ProcessRemoteWithStates(ctx, origin, pdus, nil)
}

// ProcessRemoteWithStates is ProcessRemote for PDUs after a gap this
// server could not close by fetching the missing events: prevStates give
// the state after prev events it does not have (or has only as outliers),
// as fetched from another server with every event of it stored (see
// StoreOutliers). The state before such a PDU is the resolution of the
// states after its prev events, as for any fork; its missing prev events
// stay out of the timeline.
func (s *Service) ProcessRemoteWithStates(ctx context.Context, origin id.ServerName, pdus []json.RawMessage, prevStates map[id.EventID]StateIDs) []RemoteResult {
	return s.processRemote(ctx, origin, pdus, nil, prevStates)
}

// ProcessParsed is ProcessRemote for PDUs the caller has parsed already
// with event.Parse under their room's version (check 1 passed), so that
// they are not parsed again.
func (s *Service) ProcessParsed(ctx context.Context, origin id.ServerName, pdus []*event.PDU) []RemoteResult {
	raws := make([]json.RawMessage, len(pdus))
	for i, e := range pdus {
		raws[i] = e.JSON()
	}
	return s.processRemote(ctx, origin, raws, pdus, nil)
}

// processRemote is ProcessRemoteWithStates with, where parsed is not nil,
// each PDU parsed already.
func (s *Service) processRemote(ctx context.Context, origin id.ServerName, pdus []json.RawMessage, parsed []*event.PDU, prevStates map[id.EventID]StateIDs) []RemoteResult {
	results := make([]RemoteResult, len(pdus))
	var order []id.RoomID
	byRoom := map[id.RoomID][]int{}
	for i, raw := range pdus {
		if parsed != nil {
			roomID := parsed[i].RoomID()
			if _, ok := byRoom[roomID]; !ok {
				order = append(order, roomID)
			}
			byRoom[roomID] = append(byRoom[roomID], i)
			continue
		}
		var head struct {
			RoomID string `json:"room_id"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			results[i] = RemoteResult{Verdict: pducheck.Drop, Err: fmt.Errorf("%w: %v", pducheck.ErrFormat, err)}
			continue
		}
		roomID, err := id.ParseRoomID(head.RoomID)
		if err != nil {
			results[i] = RemoteResult{Verdict: pducheck.Drop, Err: fmt.Errorf("%w: room_id: %v", pducheck.ErrFormat, err)}
			continue
		}
		if _, ok := byRoom[roomID]; !ok {
			order = append(order, roomID)
		}
		byRoom[roomID] = append(byRoom[roomID], i)
	}
	for _, roomID := range order {
		idxs := byRoom[roomID]
		reqs := make([]*request, len(idxs))
		for j, i := range idxs {
			re := &remoteEvent{origin: origin, raw: pdus[i], prevStates: prevStates}
			if parsed != nil {
				re.parsed = parsed[i]
			}
			reqs[j] = &request{remote: re, done: make(chan result, 1)}
		}
		if err := s.submit(ctx, roomID, reqs...); err != nil {
			// TODO(#8): events of rooms this server is not in arrive only
			// once joins over federation exist.
			for _, i := range idxs {
				results[i] = RemoteResult{Verdict: pducheck.Drop, Err: err}
			}
			continue
		}
		for j, i := range idxs {
			r := <-reqs[j].done
			res := RemoteResult{Verdict: r.verdict, Err: r.err}
			if r.pdu != nil {
				res.EventID = r.pdu.EventID()
			}
			if res.Verdict == 0 {
				res.Verdict = pducheck.Drop
			}
			if res.Verdict != pducheck.Accept {
				s.log.Debug("remote event not accepted", "origin", origin, "room_id", roomID,
					"event_id", res.EventID, "verdict", res.Verdict.String(), "err", res.Err)
			}
			results[i] = res
		}
	}
	return results
}

// addRemote checks a remote PDU against the batch so far and adds it as
// accepted, soft-failed or rejected, or decides its result at once (dropped,
// already known, missing prev_events).
func (b *batch) addRemote(req *request) {
	d := b.dagView()
	var res pducheck.Result
	if p := req.remote.parsed; p != nil && p.Version() == b.v {
		res, _ = pducheck.CheckParsed(p, b.v, b.s.keys, d.lookupAccepted)
	} else {
		res, _ = pducheck.CheckIncoming(req.remote.raw, b.v, b.s.keys, d.lookupAccepted)
	}
	if res.Verdict == pducheck.Drop {
		b.results[req] = result{verdict: pducheck.Drop, err: res.Err}
		return
	}
	e := res.Event
	if e.RoomID() != b.roomID {
		b.results[req] = result{verdict: pducheck.Drop, err: fmt.Errorf("%w: room_id changed under parsing", pducheck.ErrFormat)}
		return
	}
	if _, ok := d.lookup(e.EventID()); ok {
		// Known already (stored, or earlier in this batch): nothing to do.
		b.results[req] = result{pdu: e, verdict: pducheck.Accept}
		return
	}
	if res.Verdict == pducheck.Reject {
		// Check 4 failed: the state before it does not matter.
		d.reject(e)
		b.entries = append(b.entries, &entry{req: req, pdu: e, verdict: pducheck.Reject, why: res.Err})
		return
	}

	prevs := e.PrevEvents()
	for p, st := range req.remote.prevStates {
		if d.supplied == nil {
			d.supplied = map[id.EventID]StateIDs{}
		}
		d.supplied[p] = st
	}
	linear := b.o.coversExtremities(prevs)
	var before stateMap
	var beforeReader stateReader = b.o
	if !linear {
		var err error
		before, err = d.stateBefore(prevs)
		if errors.Is(err, errStateUnknown) {
			// Refused: the caller (fedevents) fetches the missing events
			// (/get_missing_events) or the state after them (/state_ids,
			// ProcessRemoteWithStates) and offers the event again.
			b.results[req] = result{pdu: e, verdict: pducheck.Drop, err: fmt.Errorf("%w: %v", ErrMissingPrevEvents, err)}
			return
		}
		if err != nil {
			b.results[req] = result{pdu: e, verdict: pducheck.Drop, err: err}
			return
		}
		beforeReader = before
	}
	en := &entry{req: req, pdu: e, before: before, stateKnown: true}
	// 5: passes the auth rules against the state before the event.
	if err := authrules.Check(e, authStateOf(e, beforeReader)); err != nil {
		d.reject(e)
		d.recordAfter(e, b.stateOrCurrent(before))
		en.verdict, en.why = pducheck.Reject, err
		b.entries = append(b.entries, en)
		return
	}
	// 6: passes the auth rules against the current state, otherwise it is
	// soft failed: stored and part of the graph, but not shown to clients
	// and not a forward extremity. On top of the head, the state before is
	// the current state, so check 5 decided already.
	if !linear {
		if err := authrules.Check(e, authStateOf(e, b.o)); err != nil {
			d.recordAfter(e, before)
			en.verdict, en.why = pducheck.SoftFail, err
			b.entries = append(b.entries, en)
			return
		}
	}
	en.verdict = pducheck.Accept
	if linear {
		b.acceptLinear(en)
	} else if err := b.acceptForked(en, before); err != nil {
		b.results[req] = result{pdu: e, verdict: pducheck.Drop, err: err}
		return
	}
	b.entries = append(b.entries, en)
}

// stateOrCurrent returns st, or the current state if st is nil.
func (b *batch) stateOrCurrent(st stateMap) stateMap {
	if st != nil {
		return st
	}
	return b.o.current()
}

// authStateOf selects the state entries the auth rules need for e from st
// (the create event always).
func authStateOf(e *event.PDU, st stateReader) authrules.StateMap {
	out := authrules.StateMap{}
	var sk *string
	if k, ok := e.StateKey(); ok {
		sk = &k
	}
	keys, err := authrules.NeededStateKeys(e.Version(), e.Type(), sk, e.Sender(), e.Content())
	if err != nil {
		keys = nil // the auth rules reject what cannot be read
	}
	keys = append(keys, event.StateKey{Type: "m.room.create"})
	for _, k := range keys {
		if ev := st.get(k); ev != nil {
			out[k] = ev
		}
	}
	return out
}

// mayRedact reports whether a remote redaction applies to target: sent by
// a user of the target sender's server, or by one with the room's redact
// power level.
func (b *batch) mayRedact(redaction, target *event.PDU) bool {
	if redaction.Sender().Domain() == target.Sender().Domain() {
		return true
	}
	create := b.o.get(event.StateKey{Type: "m.room.create"})
	pl := authrules.NewPowerLevels(b.v, b.o.get(event.StateKey{Type: "m.room.power_levels"}), authrules.Creators(create))
	return pl.UserLevel(redaction.Sender()) >= pl.Redact()
}
