package fedevents

// Spec: Server-Server API § Transactions, § PDUs, § EDUs
// https://spec.matrix.org/v1.19/server-server-api/#transactions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Limits of one transaction, as the spec sets them.
const (
	MaxPDUs = 50
	MaxEDUs = 100
)

// TxnRetention is how long the answer to a transaction is kept for its
// retries. A sender retries until it gets an answer, and sends no other
// transaction meanwhile, so a day covers any retry that matters.
const TxnRetention = 24 * time.Hour

// Transaction is a transaction another server sent.
type Transaction struct {
	// Origin is the authenticated sending server.
	Origin id.ServerName
	// TxnID is the transaction ID from the path.
	TxnID string
	PDUs  []json.RawMessage
	EDUs  []EDU
}

// EDU is an ephemeral data unit of a transaction.
type EDU struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// PDUResult is the outcome of one PDU in the answer to a transaction.
type PDUResult struct {
	// Error says why the PDU was not accepted; empty when it was handled
	// (accepted, or soft-failed, which the sender is not told).
	Error string `json:"error,omitempty"`
}

// TransactionResult is the answer to a transaction.
type TransactionResult struct {
	PDUs map[id.EventID]PDUResult `json:"pdus"`
}

// ProcessTransaction processes a transaction and returns its answer as
// JSON. Transactions of one origin are processed one at a time in the
// order they arrive; a transaction seen before (same origin and ID) is
// answered with its stored answer and not processed again. One PDU that
// fails never stops the others: each gets its own result. It returns an
// error wrapping ErrTooManyPDUs or ErrTooManyEDUs for a transaction over
// the limits, and store errors.
func (s *Service) ProcessTransaction(ctx context.Context, txn Transaction) (json.RawMessage, error) {
	if len(txn.PDUs) > MaxPDUs {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyPDUs, len(txn.PDUs), MaxPDUs)
	}
	if len(txn.EDUs) > MaxEDUs {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyEDUs, len(txn.EDUs), MaxEDUs)
	}
	unlock := s.origins.lock(txn.Origin)
	defer unlock()

	key := txnKey{origin: txn.Origin, txnID: txn.TxnID}
	if answer, ok := s.unstored.get(key); ok {
		return answer, nil
	}
	stored, err := s.DB.FederationTxn(ctx, txn.Origin, txn.TxnID)
	if err == nil {
		return stored, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// The sender going away must not leave the transaction half done:
	// its retry would find no answer and send the rest again.
	ctx = context.WithoutCancel(ctx)
	res := TransactionResult{PDUs: s.processPDUs(ctx, txn.Origin, txn.PDUs)}
	s.processEDUs(ctx, txn.Origin, txn.EDUs)

	answer, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode answer to transaction %s: %w", txn.TxnID, err)
	}
	// The events are committed; the answer is stored after it went out,
	// off the sender's wait and off the origin's lock, so the sender's
	// next transaction is processed while it commits (usually in the same
	// commit as that transaction's events). Until it is stored, a retry
	// gets it from memory; a retry after a crash lost it is processed
	// again and finds its PDUs stored already.
	s.unstored.put(key, answer)
	s.answers.Add(1)
	go func() {
		defer s.answers.Done()
		defer s.unstored.drop(key)
		s.storeAnswer(ctx, txn, answer)
	}()
	return answer, nil
}

// Close waits for the transaction answers still being stored; the store
// must stay open until it returns.
func (s *Service) Close() { s.answers.Wait() }

// storeAnswer stores the answer to a transaction, so that a retry gets it
// without processing anything.
func (s *Service) storeAnswer(ctx context.Context, txn Transaction, answer json.RawMessage) {
	now := s.now()
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		// Answers expire as new ones arrive: each write deletes the few
		// that went past the retention since the last one.
		if _, err := tx.DeleteFederationTxnsBefore(ctx, now.Add(-TxnRetention).UnixMilli()); err != nil {
			return err
		}
		return tx.AddFederationTxn(ctx, txn.Origin, txn.TxnID, answer, now.UnixMilli())
	})
	if err != nil {
		s.Logger.Warn("store federation transaction answer", "origin", string(txn.Origin), "txn_id", txn.TxnID, "err", err)
	}
}

// roomCheck is what a transaction learnt of one room: its version and
// why its PDUs cannot be taken (nil if they can).
type roomCheck struct {
	v   *roomversion.Version
	err error
}

// processPDUs checks what belongs to federation for each PDU (room known
// and joined, server ACL), fetches the signing keys, and hands the rest to
// the event path in order.
func (s *Service) processPDUs(ctx context.Context, origin id.ServerName, pdus []json.RawMessage) map[id.EventID]PDUResult {
	out := make(map[id.EventID]PDUResult, len(pdus))
	rooms := map[id.RoomID]roomCheck{}
	var pass []*event.PDU
	for _, raw := range pdus {
		roomID, ok := roomOf(raw)
		if !ok {
			s.Logger.Debug("pdu without a room id dropped", "origin", string(origin))
			continue
		}
		rc, seen := rooms[roomID]
		if !seen {
			rc = s.checkRoom(ctx, origin, roomID)
			rooms[roomID] = rc
		}
		if rc.v == nil {
			// The room is unknown: without its version the event ID
			// cannot be computed, so the PDU gets no entry.
			s.Logger.Debug("pdu for an unknown room dropped", "origin", string(origin), "room_id", string(roomID), "err", rc.err)
			continue
		}
		// Parsed once here, for its ID, its signers and the event path.
		e, perr := event.Parse(raw, rc.v)
		var eventID id.EventID
		if perr == nil {
			eventID = e.EventID()
		} else {
			var err error
			if eventID, err = event.ComputeEventID(raw, rc.v); err != nil {
				s.Logger.Debug("pdu without a computable event id dropped", "origin", string(origin), "room_id", string(roomID), "err", err)
				continue
			}
		}
		if rc.err != nil {
			out[eventID] = PDUResult{Error: rc.err.Error()}
			continue
		}
		if perr != nil {
			// Check 1 of the checks on receipt: not a valid event.
			out[eventID] = pduResult(room.RemoteResult{Verdict: pducheck.Drop, Err: fmt.Errorf("%w: %w", pducheck.ErrFormat, perr)})
			continue
		}
		s.ensureKeys(ctx, e)
		pass = append(pass, e)
	}
	if len(pass) == 0 {
		return out
	}
	raws := make([]json.RawMessage, len(pass))
	for i, e := range pass {
		raws[i] = e.JSON()
	}
	results := s.Rooms.ProcessParsed(ctx, origin, pass)
	results = s.retryGaps(ctx, origin, raws, results)
	for i, r := range results {
		eventID := r.EventID
		if eventID == "" {
			eventID = pass[i].EventID()
		}
		out[eventID] = pduResult(r)
		if r.Verdict != pducheck.Accept {
			s.Logger.Debug("pdu not accepted", "origin", string(origin), "event_id", string(eventID), "err", fmt.Errorf("%s: %w", r.Verdict, r.Err))
		}
	}
	return out
}

// retryGaps fetches the prev_events the event path found missing from
// origin and, if it took any, runs the PDUs refused for that once more, in
// their order, and returns the results with theirs replaced.
func (s *Service) retryGaps(ctx context.Context, origin id.ServerName, pdus []json.RawMessage, results []room.RemoteResult) []room.RemoteResult {
	var gaps []gap
	var idx []int
	for i, r := range results {
		if !errors.Is(r.Err, room.ErrMissingPrevEvents) || r.EventID == "" {
			continue
		}
		var head struct {
			RoomID id.RoomID `json:"room_id"`
			Depth  int64     `json:"depth"`
		}
		json.Unmarshal(pdus[i], &head)
		gaps = append(gaps, gap{roomID: head.RoomID, eventID: r.EventID, depth: head.Depth})
		idx = append(idx, i)
	}
	if s.fetchMissing(ctx, origin, gaps) {
		again := make([]json.RawMessage, len(idx))
		for j, i := range idx {
			again[j] = pdus[i]
		}
		for j, r := range s.Rooms.ProcessRemote(ctx, origin, again) {
			results[idx[j]] = r
		}
	}
	return s.fillGaps(ctx, origin, pdus, results)
}

// pduResult turns the event path's result into the transaction's.
func pduResult(r room.RemoteResult) PDUResult {
	switch {
	case r.Verdict == pducheck.Accept || r.Verdict == pducheck.SoftFail:
		return PDUResult{}
	case errors.Is(r.Err, room.ErrMissingPrevEvents):
		return PDUResult{Error: "missing prev_events: this server does not have the events this one follows: " + r.Err.Error()}
	case r.Err != nil:
		return PDUResult{Error: r.Verdict.String() + ": " + r.Err.Error()}
	}
	return PDUResult{Error: r.Verdict.String()}
}

// checkRoom decides whether PDUs of roomID from origin may enter: the room
// is known (its version is returned), a user of this server is joined,
// and the room's server ACL allows origin.
func (s *Service) checkRoom(ctx context.Context, origin id.ServerName, roomID id.RoomID) roomCheck {
	vs, err := s.Rooms.Version(ctx, roomID)
	if err != nil {
		return roomCheck{err: err}
	}
	v, ok := roomversion.Lookup(roomversion.ID(vs))
	if !ok {
		return roomCheck{err: fmt.Errorf("room version %q is not supported", vs)}
	}
	in, err := s.inRoom(ctx, roomID)
	if err != nil {
		return roomCheck{v: v, err: err}
	}
	if !in {
		return roomCheck{v: v, err: fmt.Errorf("%w: %s", ErrNotInRoom, roomID)}
	}
	if err := s.CheckACL(ctx, roomID, origin); err != nil {
		s.Logger.Warn("pdu from a server the room's acl denies", "origin", string(origin), "room_id", string(roomID))
		return roomCheck{v: v, err: err}
	}
	return roomCheck{v: v}
}

// ensureKeysRaw is ensureKeys for a PDU not parsed yet.
func (s *Service) ensureKeysRaw(ctx context.Context, raw json.RawMessage, v *roomversion.Version) {
	if e, err := event.Parse(raw, v); err == nil {
		s.ensureKeys(ctx, e)
	}
}

// ensureKeys fetches the keys of the servers that must have signed the PDU
// (those named in its signatures under the required servers), so that the
// event path's lookup, which never fetches, finds them. A PDU that cannot
// be parsed or names no key fetches nothing: its checks fail later.
func (s *Service) ensureKeys(ctx context.Context, e *event.PDU) {
	servers, err := event.RequiredSigners(e)
	if err != nil {
		return
	}
	var sigs struct {
		Signatures map[id.ServerName]map[signing.KeyID]json.RawMessage `json:"signatures"`
	}
	if json.Unmarshal(e.JSON(), &sigs) != nil {
		return
	}
	for _, server := range servers {
		if server == s.ServerName {
			continue
		}
		var keyIDs []signing.KeyID
		for kid := range sigs.Signatures[server] {
			keyIDs = append(keyIDs, kid)
		}
		if len(keyIDs) == 0 {
			continue
		}
		slices.Sort(keyIDs)
		if err := s.Keys.Ensure(ctx, server, keyIDs, e.OriginServerTS()); err != nil {
			s.Logger.Debug("could not fetch signing keys", "origin", string(server), "event_id", string(e.EventID()), "err", err)
		}
	}
}

// roomOf reads a PDU's room ID.
func roomOf(raw json.RawMessage) (id.RoomID, bool) {
	var head struct {
		RoomID string `json:"room_id"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return "", false
	}
	roomID, err := id.ParseRoomID(head.RoomID)
	return roomID, err == nil
}
