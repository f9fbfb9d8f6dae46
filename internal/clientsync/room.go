package clientsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// fullState returns a room's whole state before the event first (with
// use_state_after, after it), or the current state when first is nil,
// with the state events of hidden in place of the ones they replace (the
// ones the timeline filter left out, see hiddenStateEnds); lazy-loading
// clients get only the member events of the timeline's senders and their
// own.
func (s *Service) fullState(ctx context.Context, req Request, roomID id.RoomID, first *item, hidden, timeline []item, joined bool) ([]clientevent.Event, error) {
	sf := stateFilter(req.Filter)
	lazy := joined && sf != nil && sf.LazyLoadMembers
	senders := map[string]bool{string(req.User): true}
	for _, it := range timeline {
		senders[string(it.pdu.Sender())] = true
	}
	keep := func(typ, stateKey string) bool {
		return !lazy || typ != "m.room.member" || senders[stateKey]
	}
	var items []item
	if first == nil {
		cur, err := s.rooms.CurrentState(ctx, roomID)
		if err != nil {
			return nil, fmt.Errorf("load state of %s: %w", roomID, err)
		}
		for _, ev := range cur {
			items = append(items, item{pdu: ev})
		}
	} else {
		nid, err := s.nidOf(ctx, *first)
		if err != nil {
			return nil, err
		}
		var nids map[store.StateKey]int64
		if req.UseStateAfter {
			nids, err = s.stateAfter(ctx, roomID, item{nid: nid, pdu: first.pdu})
		} else {
			nids, err = s.stateBefore(ctx, roomID, item{nid: nid})
		}
		if err != nil {
			return nil, err
		}
		var want []int64
		for k, nid := range nids {
			if keep(k.Type, k.StateKey) {
				want = append(want, nid)
			}
		}
		evs, err := s.db.EventsByNID(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("load state of %s: %w", roomID, err)
		}
		if items, err = s.parse(ctx, roomID, evs); err != nil {
			return nil, err
		}
	}
	items = overlayState(items, hidden)
	now := s.now().UnixMilli()
	out := []clientevent.Event{}
	for _, it := range items {
		sk, _ := it.pdu.StateKey()
		if keep(it.pdu.Type(), sk) && sf.MatchEvent(string(roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content()) {
			out = append(out, s.format(req, it, now))
		}
	}
	return out, nil
}

// addRoom adds a room in full, as of pos: a joined room's state at the
// start of its timeline and the newest events; an invite's or knock's
// stripped state; a left room's events up to the leave (leave is that
// event; nil in an initial sync, where left rooms appear only with
// include_leave).
func (s *Service) addRoom(ctx context.Context, req Request, rooms *Rooms, roomID id.RoomID, membership string, pos int64, leave *item) error {
	switch membership {
	case "join":
		jr := newJoinedRoom()
		if err := s.fillFull(ctx, req, roomID, pos, &jr.State, &jr.Timeline, true); err != nil {
			return err
		}
		sum, heroes, err := s.summary(ctx, req.User, roomID)
		if err != nil {
			return err
		}
		jr.Summary = sum
		s.addHeroMembers(req, jr, heroes, s.now().UnixMilli())
		counts, _, _, err := s.unreadFor(ctx, req.User, roomID)
		if err != nil {
			return err
		}
		jr.setUnread(req, counts)
		rooms.Join[string(roomID)] = jr
	case "invite", "knock":
		stripped, err := s.strippedState(ctx, req.User, roomID, membership)
		if err != nil {
			return err
		}
		sort.Slice(stripped, func(i, j int) bool {
			return stripped[i].Type < stripped[j].Type || stripped[i].Type == stripped[j].Type && stripped[i].StateKey < stripped[j].StateKey
		})
		if membership == "invite" {
			if invited, err := s.invitedByIgnored(ctx, req.User, stripped); invited || err != nil {
				return err // an ignored user's invite is not shown
			}
			ir := &InvitedRoom{}
			ir.InviteState.Events = stripped
			rooms.Invite[string(roomID)] = ir
		} else {
			kr := &KnockedRoom{}
			kr.KnockState.Events = stripped
			rooms.Knock[string(roomID)] = kr
		}
	case "leave", "ban":
		if leave == nil && (req.Filter.Room == nil || !req.Filter.Room.IncludeLeave) {
			return nil
		}
		upto := pos
		if leave != nil {
			upto = leave.pos
		} else {
			m, err := s.lastOwnMemberPos(ctx, req.User, roomID, pos)
			if err != nil {
				return err
			}
			upto = m
		}
		lr := &LeftRoom{State: StateBatch{Events: []clientevent.Event{}}, Timeline: TimelineBatch{Events: []clientevent.Event{}}, AccountData: EventBatch{Events: emptyRaw()}}
		if s.leftFromOutside(ctx, req.User, roomID, upto) {
			// A rejected invite to a room this server is not in: there is
			// no state, only the rejection itself.
			if leave != nil {
				lr.Timeline.Events = append(lr.Timeline.Events, s.format(req, *leave, s.now().UnixMilli()))
			}
			lr.Timeline.PrevBatch = Token(upto)
			rooms.Leave[string(roomID)] = lr
			return nil
		}
		if err := s.fillFull(ctx, req, roomID, upto, &lr.State, &lr.Timeline, false); err != nil {
			return err
		}
		rooms.Leave[string(roomID)] = lr
	}
	return nil
}

// leftFromOutside reports whether the user's membership of the room, at
// stream position upto, rejects an invite to a room this server is not
// in: the room is unknown, or known from before this server's users all
// left and the rejection went through the inviting server
// (room.Service.ImportRejection keeps it as the user's remote invite).
func (s *Service) leftFromOutside(ctx context.Context, user id.UserID, roomID id.RoomID, upto int64) bool {
	if _, err := s.rooms.Version(ctx, roomID); errors.Is(err, room.ErrRoomNotFound) {
		return true
	}
	ri, err := s.db.RemoteInvite(ctx, roomID, user)
	if err != nil {
		return false
	}
	e, err := s.db.Event(ctx, ri.EventID)
	return err == nil && e.StreamPos == upto
}

// lastOwnMemberPos finds the position of the user's newest member event in
// a room at or before pos.
func (s *Service) lastOwnMemberPos(ctx context.Context, user id.UserID, roomID id.RoomID, pos int64) (int64, error) {
	ms, err := s.db.UserMembershipsSince(ctx, user, 0)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if m.RoomID == roomID {
			return min(m.StreamPos, pos), nil
		}
	}
	return pos, nil
}

// fillFull fills state and timeline for a room as of upto: the newest
// events the timeline filter lets through (at most its limit) of those the
// user may see under the room's history visibility, and the state before
// the first of them, with the state events the filter left out that the
// room ends with.
// joined is true for a room the user is joined to, where lazy-loading
// applies.
func (s *Service) fillFull(ctx context.Context, req Request, roomID id.RoomID, upto int64, state *StateBatch, tl *TimelineBatch, joined bool) error {
	limit := timelineLimit(timelineFilter(req.Filter))
	keep, err := s.timelineKeep(ctx, req, roomID)
	if err != nil {
		return err
	}
	// History before an event the user may not see is not theirs either,
	// so there is nothing for the client to page back to.
	loaded, exhausted, err := s.newestEvents(ctx, req, roomID, 0, upto, limit, keep, true, joined)
	if err != nil {
		return err
	}
	start, more := keep.newest(loaded, limit)
	start = startAtGap(loaded, start)
	items := loaded[start:]
	tl.Limited = more || !exhausted || hasGap(loaded)
	var stateNIDs map[store.StateKey]int64
	switch {
	case len(items) > 0 && req.UseStateAfter:
		if stateNIDs, err = s.stateAfter(ctx, roomID, items[len(items)-1]); err != nil {
			return err
		}
	case len(items) > 0:
		if stateNIDs, err = s.stateBefore(ctx, roomID, items[0]); err != nil {
			return err
		}
		for _, it := range keep.hiddenStateEnds(items) {
			stateNIDs[store.StateKey(it.pdu.StateKeyTuple())] = it.nid
		}
	}
	now := s.now().UnixMilli()
	timeline, err := s.appendTimeline(ctx, req, roomID, keep, items, joined, now, tl)
	if err != nil {
		return err
	}
	if tl.Limited {
		if err := s.bundle(ctx, req, roomID, timeline, tl.Events[len(tl.Events)-len(timeline):], now, 0); err != nil {
			return err
		}
	}
	// Every timeline has a prev_batch (clients page back from it), also
	// when it is not limited.
	tl.PrevBatch = Token(upto)
	if len(items) > 0 {
		tl.PrevBatch = Token(items[0].pos - 1)
	}
	sf := stateFilter(req.Filter)
	lazyLoad := joined && sf != nil && sf.LazyLoadMembers
	senders := map[string]bool{string(req.User): true}
	for _, it := range timeline {
		senders[string(it.pdu.Sender())] = true
	}
	var nids []int64
	for k, nid := range stateNIDs {
		if lazyLoad && k.Type == "m.room.member" && !senders[k.StateKey] {
			continue
		}
		nids = append(nids, nid)
	}
	if len(nids) == 0 {
		return nil
	}
	stateEvs, err := s.db.EventsByNID(ctx, nids)
	if err != nil {
		return fmt.Errorf("load state of %s: %w", roomID, err)
	}
	stateItems, err := s.parse(ctx, roomID, stateEvs)
	if err != nil {
		return err
	}
	for _, it := range stateItems {
		if sf.MatchEvent(string(roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content()) {
			state.Events = append(state.Events, s.format(req, it, now))
		}
	}
	sortState(state.Events)
	return nil
}

// stateBefore returns the room state before a stored event, as NIDs.
func (s *Service) stateBefore(ctx context.Context, roomID id.RoomID, it item) (map[store.StateKey]int64, error) {
	group, err := s.db.StateGroupBeforeEvent(ctx, it.nid)
	if err != nil {
		return nil, fmt.Errorf("state before timeline of %s: %w", roomID, err)
	}
	state, err := s.db.StateAtGroup(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("state before timeline of %s: %w", roomID, err)
	}
	return state, nil
}

// parse turns stored events of one room into items.
func (s *Service) parse(ctx context.Context, roomID id.RoomID, evs []store.Event) ([]item, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	v, err := s.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := make([]item, 0, len(evs))
	for _, e := range evs {
		pdu, err := parseStored(e, v)
		if err != nil {
			return nil, err
		}
		it := item{pos: e.StreamPos, nid: e.NID, pdu: pdu, txnDevice: e.TxnDeviceID, txnID: e.TxnID, gapBelow: e.GapBelow}
		if e.RedactedBecause != "" {
			if it.redactedBecause, err = s.clientEventJSON(ctx, roomID, v, e.RedactedBecause); err != nil {
				return nil, err
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// roomVersion returns the version of a room, also of one this server is
// not in but has invites to.
func (s *Service) roomVersion(ctx context.Context, roomID id.RoomID) (*roomversion.Version, error) {
	vid, err := s.rooms.Version(ctx, roomID)
	if errors.Is(err, room.ErrRoomNotFound) {
		// A room this server is not in, known only by invites to it.
		vid, err = s.db.RemoteInviteRoomVersion(ctx, roomID)
	}
	if err != nil {
		return nil, fmt.Errorf("version of %s: %w", roomID, err)
	}
	v, ok := roomversion.Lookup(roomversion.ID(vid))
	if !ok {
		return nil, fmt.Errorf("room %s has unsupported version %q", roomID, vid)
	}
	return v, nil
}

// parseStored parses a stored event as clients see it: redacted if a
// redaction applies.
func parseStored(e store.Event, v *roomversion.Version) (*event.PDU, error) {
	raw := e.JSON
	if e.RedactedBecause != "" {
		var err error
		if raw, err = event.Redact(raw, v); err != nil {
			return nil, fmt.Errorf("redact stored event %s: %w", e.EventID, err)
		}
	}
	pdu, err := event.ParseTrusted(raw, v, e.EventID)
	if err != nil {
		return nil, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
	}
	return pdu, nil
}

// format renders an item for the requesting device.
func (s *Service) format(req Request, it item, now int64) clientevent.Event {
	ev := clientevent.Format(it.pdu, now, false)
	if it.txnID != "" && it.txnDevice == req.Device && it.pdu.Sender() == req.User {
		ev.Unsigned.TransactionID = it.txnID
	}
	ev.Unsigned.RedactedBecause = it.redactedBecause
	return ev
}

func newRooms() *Rooms {
	return &Rooms{
		Join:   map[string]*JoinedRoom{},
		Invite: map[string]*InvitedRoom{},
		Knock:  map[string]*KnockedRoom{},
		Leave:  map[string]*LeftRoom{},
	}
}

func newJoinedRoom() *JoinedRoom {
	return &JoinedRoom{
		State:       StateBatch{Events: []clientevent.Event{}},
		Timeline:    TimelineBatch{Events: []clientevent.Event{}},
		Ephemeral:   EventBatch{Events: emptyRaw()},
		AccountData: EventBatch{Events: emptyRaw()},
	}
}

// appendTimeline appends to tl the items keep lets through, formatted for the client with the user's membership at each
// (joined tells whether the user is joined at the end) and their age at
// now, and returns them.
func (s *Service) appendTimeline(ctx context.Context, req Request, roomID id.RoomID, keep timelineKeep, items []item, joined bool, now int64, tl *TimelineBatch) (_ []item, err error) {
	ms, err := s.timelineMemberships(ctx, req.User, items, endMembership(joined))
	if err != nil {
		return nil, err
	}
	// A timeline built outside a sync answer that collects the replaced
	// state events looks its own up.
	if req.prevStates == nil {
		req.prevStates = &prevStateBatch{}
		defer func() {
			if err == nil {
				err = s.flushPrevStates(ctx, req)
			}
		}()
	}
	// Sized for every item: most filters let all of them through.
	timeline := make([]item, 0, len(items))
	tl.Events = slices.Grow(tl.Events, len(items))
	for i, it := range items {
		if keep.keeps(it) {
			timeline = append(timeline, it)
			ev := s.format(req, it, now)
			ev.Unsigned.Membership = ms[i]
			tl.Events = append(tl.Events, ev)
			// Timeline events only: the state sections show state, not
			// changes.
			req.addPrevState(roomID, it, tl, len(tl.Events)-1)
		}
	}
	return timeline, nil
}

func timelineFilter(f *Filter) *RoomEventFilter {
	if f == nil || f.Room == nil {
		return nil
	}
	return f.Room.Timeline
}

// timelineLimit returns the number of events a timeline holds at most. A
// nil filter (none given) must not be dereferenced through the embedded
// EventFilter.
func timelineLimit(tf *RoomEventFilter) int {
	if tf == nil {
		return DefaultTimelineLimit
	}
	return tf.LimitOr(DefaultTimelineLimit, MaxTimelineLimit)
}

func stateFilter(f *Filter) *RoomEventFilter {
	if f == nil || f.Room == nil {
		return nil
	}
	return f.Room.State
}

func sortState(evs []clientevent.Event) {
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Type != evs[j].Type {
			return evs[i].Type < evs[j].Type
		}
		return deref(evs[i].StateKey) < deref(evs[j].StateKey)
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func emptyRaw() []json.RawMessage { return []json.RawMessage{} }

// strippedState returns the stripped state of a room the user is invited
// to or knocking on: from the room's current state, or, for an invite to
// a room this server is not in, the stripped state the inviting server
// sent with it and the invite itself.
func (s *Service) strippedState(ctx context.Context, user id.UserID, roomID id.RoomID, membership string) ([]clientevent.StrippedState, error) {
	if membership == "invite" {
		ri, err := s.db.RemoteInvite(ctx, roomID, user)
		if err == nil {
			return remoteInviteState(ctx, s, ri)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	state, err := s.rooms.CurrentState(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("load state of %s: %w", roomID, err)
	}
	// The inviter's member event comes too: clients name an invite to an
	// unnamed room (a direct chat) after the inviter.
	var inviter string
	for _, ev := range state {
		if ev.IsStateKey("m.room.member", string(user)) && membership == "invite" && ev.Sender() != user {
			inviter = string(ev.Sender())
		}
	}
	var stripped []clientevent.StrippedState
	for _, ev := range state {
		if slices.Contains(clientevent.StrippedStateTypes, ev.Type()) || ev.IsStateKey("m.room.member", string(user)) ||
			inviter != "" && ev.IsStateKey("m.room.member", inviter) {
			stripped = append(stripped, clientevent.Strip(ev))
		}
	}
	return stripped, nil
}

// remoteInviteState is the stripped state of an invite to a room this
// server is not in: what the inviting server sent, without entries that
// are not stripped state events, and the invite event.
func remoteInviteState(ctx context.Context, s *Service, ri store.RemoteInvite) ([]clientevent.StrippedState, error) {
	var sent []json.RawMessage
	_ = json.Unmarshal(ri.InviteState, &sent) // stored as a JSON array
	var out []clientevent.StrippedState
	for _, raw := range sent {
		var st clientevent.StrippedState
		if json.Unmarshal(raw, &st) != nil || st.Type == "" || len(st.Content) == 0 || st.Content[0] != '{' {
			continue
		}
		if st.Type == "m.room.member" && st.StateKey == string(ri.UserID) {
			continue // the invite itself is added below
		}
		out = append(out, st)
	}
	e, err := s.db.Event(ctx, ri.EventID)
	if err != nil {
		return nil, fmt.Errorf("load invite %s: %w", ri.EventID, err)
	}
	if v, ok := roomversion.Lookup(roomversion.ID(ri.RoomVersion)); ok {
		pdu, err := event.Parse(e.JSON, v)
		if err != nil {
			return nil, fmt.Errorf("parse invite %s: %w", ri.EventID, err)
		}
		out = append(out, clientevent.Strip(pdu))
	}
	return out, nil
}
