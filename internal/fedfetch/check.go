package fedfetch

// Spec: Server-Server API § Checks performed on receipt of a PDU
// https://spec.matrix.org/v1.19/server-server-api/#checks-performed-on-receipt-of-a-pdu

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// checker runs fetched events of one room through the checks on receipt
// 1–4 in auth order, fetching auth events that neither the fetched events
// nor the store hold from srv (at most maxAuthFetches).
type checker struct {
	f      *Fetcher
	ctx    context.Context
	srv    id.ServerName
	v      *roomversion.Version
	roomID id.RoomID

	parsed   map[id.EventID]*event.PDU
	raws     map[id.EventID]json.RawMessage
	accepted map[id.EventID]*event.PDU
	// failed marks events that failed (dropped, rejected, or unavailable).
	failed  map[id.EventID]bool
	stored  map[id.EventID]*event.PDU
	fetches int
	order   []*event.PDU
}

// check parses raws (events of other rooms and unparsable ones are left
// out), fetches their signers' keys, and runs them through checks 1–4 in
// auth order. It returns the events that passed, auth events first,
// including auth events it had to fetch, and those stored already (not
// rejected), which need no check.
func (f *Fetcher) check(ctx context.Context, srv id.ServerName, v *roomversion.Version, roomID id.RoomID, raws []json.RawMessage) ([]*event.PDU, error) {
	c := &checker{f: f, ctx: ctx, srv: srv, v: v, roomID: roomID,
		parsed: map[id.EventID]*event.PDU{}, raws: map[id.EventID]json.RawMessage{},
		accepted: map[id.EventID]*event.PDU{}, failed: map[id.EventID]bool{}, stored: map[id.EventID]*event.PDU{}}
	var ids []id.EventID
	for _, raw := range raws {
		if eid, ok := c.add(raw); ok {
			ids = append(ids, eid)
		}
	}
	f.Keys.EnsureForPDUs(ctx, raws)
	// Whatever is stored needs no check.
	stored, err := f.DB.EventsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, se := range stored {
		if e, ok := c.parsed[se.EventID]; ok && se.RoomID == roomID && !se.Rejected {
			// Checked when it was stored: it is returned as it is (an
			// outlier may become history).
			delete(c.parsed, se.EventID)
			c.accepted[se.EventID] = e
			c.order = append(c.order, e)
		}
	}
	for _, eid := range ids {
		if _, ok := c.parsed[eid]; ok {
			c.visit(eid, 0)
		}
	}
	return c.order, ctx.Err()
}

// add parses a fetched event of the room and remembers it.
func (c *checker) add(raw json.RawMessage) (id.EventID, bool) {
	e, err := event.Parse(raw, c.v)
	if err != nil || e.RoomID() != c.roomID {
		return "", false
	}
	c.parsed[e.EventID()], c.raws[e.EventID()] = e, raw
	return e.EventID(), true
}

// lookup returns an accepted event: one of the fetched events that passed,
// or a stored one that was not rejected.
func (c *checker) lookup(eid id.EventID) (*event.PDU, bool) {
	if e, ok := c.accepted[eid]; ok {
		return e, true
	}
	if e, ok := c.stored[eid]; ok {
		return e, e != nil
	}
	evs, err := c.f.DB.EventsByID(c.ctx, []id.EventID{eid})
	if err != nil || len(evs) == 0 || evs[0].RoomID != c.roomID || evs[0].Rejected {
		c.stored[eid] = nil
		return nil, false
	}
	e, err := event.ParseTrusted(evs[0].JSON, c.v, eid)
	if err != nil {
		c.stored[eid] = nil
		return nil, false
	}
	c.stored[eid] = e
	return e, true
}

// visit checks an event after its auth events.
func (c *checker) visit(eid id.EventID, depth int) {
	if _, ok := c.accepted[eid]; ok || c.failed[eid] || depth > 200 {
		return
	}
	e := c.parsed[eid]
	c.failed[eid] = true // until it passes; also breaks cycles
	auth := e.AuthEvents()
	if c.v.RoomIDFromCreateEvent && e.Type() != "m.room.create" {
		auth = append(auth[:len(auth):len(auth)], id.EventID("$"+string(c.roomID)[1:]))
	}
	for _, a := range auth {
		if _, ok := c.parsed[a]; !ok {
			if _, ok := c.lookup(a); ok {
				continue
			}
			if !c.fetchAuth(a) {
				continue // the check below rejects it
			}
		}
		c.visit(a, depth+1)
	}
	res, err := pducheck.CheckIncoming(c.raws[eid], c.v, c.f.Keys.Lookup, c.lookup)
	if err != nil {
		c.f.log().Debug("fetched event failed its checks", "origin", string(c.srv), "room_id", string(c.roomID),
			"event_id", string(eid), "err", fmt.Errorf("%s: %w", res.Verdict, err))
		return
	}
	delete(c.failed, eid)
	c.accepted[eid] = res.Event
	c.order = append(c.order, res.Event)
}

// fetchAuth fetches a missing auth event from the server, within the
// bound; false if it could not.
func (c *checker) fetchAuth(eid id.EventID) bool {
	if c.fetches >= maxAuthFetches || c.ctx.Err() != nil {
		return false
	}
	c.fetches++
	raw, err := c.f.fetchEvent(c.ctx, c.srv, eid)
	if err != nil {
		c.f.log().Debug("could not fetch auth event", "origin", string(c.srv), "event_id", string(eid), "err", err)
		return false
	}
	got, ok := c.add(raw)
	if !ok || got != eid {
		delete(c.parsed, got)
		return false
	}
	c.f.Keys.EnsureForPDUs(c.ctx, []json.RawMessage{raw})
	return true
}
