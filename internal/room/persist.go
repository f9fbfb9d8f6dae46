package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// overlay is a room head plus the changes of a batch that is not yet
// committed. Reading through it sees the batch's earlier events; the real
// head is only changed by commit, after the transaction succeeded.
type overlay struct {
	base        *roomState
	state       map[event.StateKey]*event.PDU
	extremities []*event.PDU
	depth       int64
}

func newOverlay(rs *roomState) *overlay {
	return &overlay{base: rs, state: map[event.StateKey]*event.PDU{}, extremities: rs.extremities, depth: rs.depth}
}

// extremityIDs returns the IDs of the overlay's forward extremities.
func (o *overlay) extremityIDs() []id.EventID {
	out := make([]id.EventID, len(o.extremities))
	for i, e := range o.extremities {
		out[i] = e.EventID()
	}
	return out
}

func (o *overlay) get(k event.StateKey) *event.PDU {
	if ev, ok := o.state[k]; ok {
		return ev
	}
	if o.base.state == nil {
		return nil
	}
	return o.base.state[k]
}

// apply moves the overlay's head past pdu.
func (o *overlay) apply(pdu *event.PDU) {
	if pdu.IsState() {
		o.state[pdu.StateKeyTuple()] = pdu
	}
	o.extremities = []*event.PDU{pdu}
	o.depth = pdu.Depth()
}

// persist writes a batch of accepted events of one room in one transaction:
// each event with the state group before it, a new state group after each
// state event, current state, memberships, transaction IDs, the new forward
// extremity and the room's current state group. newRoom, when set, creates
// the room row in the same transaction (and registers rs for it). Right
// after the commit it advances rs and publishes the events to the stream. The caller
// holds rs.mu.
func (s *Service) persist(ctx context.Context, roomID id.RoomID, rs *roomState, pdus []*event.PDU, props []Proposal, newRoom *store.Room) ([]Persisted, error) {
	out := make([]Persisted, len(pdus))
	var (
		group   int64
		newNIDs map[event.StateKey]int64
	)
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if newRoom != nil {
			if err := tx.CreateRoom(ctx, *newRoom); err != nil {
				return fmt.Errorf("create room %s: %w", roomID, err)
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
		newNIDs = map[event.StateKey]int64{}
		for i, pdu := range pdus {
			rec := store.EventRecord{
				EventID:        pdu.EventID(),
				RoomID:         roomID,
				Type:           pdu.Type(),
				Sender:         pdu.Sender(),
				Depth:          pdu.Depth(),
				OriginServerTS: pdu.OriginServerTS(),
				JSON:           pdu.JSON(),
				TxnDeviceID:    props[i].DeviceID,
				TxnID:          props[i].TxnID,
			}
			if sk, ok := pdu.StateKey(); ok {
				rec.StateKey = &sk
			}
			nid, pos, err := tx.InsertEvent(ctx, rec)
			if err != nil {
				return fmt.Errorf("insert event %s: %w", pdu.EventID(), err)
			}
			if err := tx.SetEventState(ctx, nid, group); err != nil {
				return fmt.Errorf("record state before %s: %w", pdu.EventID(), err)
			}
			if pdu.IsState() {
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
					m := store.Member{RoomID: roomID, UserID: id.UserID(k.StateKey), Membership: membershipOf(pdu), EventNID: nid, StreamPos: pos}
					if err := tx.SetMembership(ctx, m); err != nil {
						return fmt.Errorf("set membership %s: %w", pdu.EventID(), err)
					}
				}
				newNIDs[k] = nid
			}
			if target := pdu.Redacts(); pdu.Type() == "m.room.redaction" && target != "" {
				if err := markRedacted(ctx, tx, roomID, target, pdu.EventID()); err != nil {
					return err
				}
			}
			if p := props[i]; p.TxnID != "" {
				if err := tx.AddTxnID(ctx, p.Sender, p.DeviceID, p.TxnID, pdu.EventID(), pdu.OriginServerTS()); err != nil {
					return fmt.Errorf("record txn id %s: %w", p.TxnID, err)
				}
			}
			out[i] = Persisted{PDU: pdu, StreamPos: pos, DeviceID: props[i].DeviceID, TxnID: props[i].TxnID}
		}
		last := pdus[len(pdus)-1]
		if err := tx.SetExtremities(ctx, roomID, []id.EventID{last.EventID()}); err != nil {
			return fmt.Errorf("set extremities of %s: %w", roomID, err)
		}
		if group != rs.stateGroup {
			if err := tx.SetRoomStateGroup(ctx, roomID, group); err != nil {
				return fmt.Errorf("set state group of %s: %w", roomID, err)
			}
		}
		// Once committed, and before any later commit is announced: the
		// head moves on and the events are published, so that consumers
		// see every room's events in stream order. The caller still holds
		// rs.mu, waiting in Write.
		tx.AfterCommit(func() {
			advanceHead(rs, pdus, newNIDs, group)
			if newRoom != nil {
				s.mu.Lock()
				s.rooms[roomID] = rs
				s.mu.Unlock()
			}
			s.notify(out)
		})
		return nil
	})
	if err != nil {
		// The batch may have committed without its hook running (an
		// ambiguous COMMIT): consumers must not trust the published
		// batches to be complete until the next one.
		s.stream.Invalidate()
		return nil, err
	}
	return out, nil
}

// advanceHead moves a room's in-memory head past committed events.
func advanceHead(rs *roomState, pdus []*event.PDU, nids map[event.StateKey]int64, group int64) {
	rs.head.Lock()
	defer rs.head.Unlock()
	if rs.state == nil {
		rs.state = map[event.StateKey]*event.PDU{}
		rs.stateNIDs = map[event.StateKey]int64{}
	}
	for _, pdu := range pdus {
		if pdu.IsState() {
			k := pdu.StateKeyTuple()
			rs.state[k] = pdu
			rs.stateNIDs[k] = nids[k]
		}
	}
	last := pdus[len(pdus)-1]
	rs.extremities = []*event.PDU{last}
	rs.depth = last.Depth()
	rs.stateGroup = group
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
	return nil
}

// membershipOf returns content.membership of a member event, or "" if it
// has none (the auth rules reject such events before they get here).
func membershipOf(pdu *event.PDU) string {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(pdu.Content(), &c)
	return c.Membership
}
