package clientsync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// MaxTimeout caps the long-poll timeout a client may ask for.
const MaxTimeout = 5 * time.Minute

// Request is a parsed /sync request.
type Request struct {
	User   id.UserID
	Device id.DeviceID
	// Since is the client's since token, "" for an initial sync.
	Since     string
	Filter    *Filter
	FullState bool
	Timeout   time.Duration
}

// Sync answers one /sync request: at once for an initial sync, with
// full_state, or when something is new since the token; otherwise it waits
// up to req.Timeout for something to happen.
func (s *Service) Sync(ctx context.Context, req Request) (*Response, error) {
	if req.Filter == nil {
		req.Filter = &Filter{}
	}
	resp, err := s.sync(ctx, req)
	if err != nil {
		return nil, err
	}
	resp.applyEventFields(req.Filter)
	return resp, nil
}

func (s *Service) sync(ctx context.Context, req Request) (*Response, error) {
	if req.Since == "" {
		pos := s.notifier.Position()
		return s.initial(ctx, req, pos)
	}
	tok, err := ParseSyncToken(req.Since)
	if err != nil {
		return nil, err
	}
	since := tok.Events
	// A token from the future (for example after restoring an older
	// backup) is treated as "now" rather than waiting forever.
	since = min(since, s.notifier.Position())

	timeout := min(max(req.Timeout, 0), MaxTimeout)
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		pos := s.notifier.Position()
		resp, err := s.incremental(ctx, req, since, pos)
		if err != nil {
			return nil, err
		}
		if !resp.isEmpty() || req.FullState || waitCtx.Err() != nil {
			return resp, nil
		}
		// Nothing for this user in (since, pos]: wait for more.
		if s.notifier.Wait(waitCtx, pos) == pos {
			return resp, nil // timed out or the client went away
		}
	}
}

func (r *Response) isEmpty() bool { return r.Rooms == nil || r.Rooms.empty() }

// item is one event as sync handles it.
type item struct {
	pos int64
	nid int64 // 0 if not known yet
	pdu *event.PDU
	// txnDevice and txnID identify the sending device's transaction.
	txnDevice id.DeviceID
	txnID     string
	// redactedBecause is the client form of the redaction that applies to
	// the event, whose pdu is then the redacted event; nil otherwise.
	redactedBecause json.RawMessage
}

// initial computes an initial sync at stream position pos.
func (s *Service) initial(ctx context.Context, req Request, pos int64) (*Response, error) {
	ms, err := s.memberships(ctx, req.User)
	if err != nil {
		return nil, err
	}
	resp := &Response{NextBatch: Token(pos), Rooms: newRooms()}
	var forgotten map[id.RoomID]bool
	if req.Filter.Room != nil && req.Filter.Room.IncludeLeave {
		if forgotten, err = s.forgotten(ctx, req.User); err != nil {
			return nil, err
		}
	}
	for roomID, membership := range ms {
		if !req.Filter.Room.MatchRoom(string(roomID)) {
			continue
		}
		if (membership == "leave" || membership == "ban") && forgotten[roomID] {
			continue
		}
		if err := s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, nil); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// incremental computes what is new for the user in (since, pos].
func (s *Service) incremental(ctx context.Context, req Request, since, pos int64) (*Response, error) {
	resp := &Response{NextBatch: Token(pos), Rooms: newRooms()}
	if pos <= since && !req.FullState {
		return resp, nil
	}
	ms, err := s.memberships(ctx, req.User)
	if err != nil {
		return nil, err
	}
	byRoom, err := s.eventsInRange(ctx, req.User, ms, since, pos)
	if err != nil {
		return nil, err
	}
	// forgotten is read only when a left room is about to be sent, which
	// incremental syncs seldom do.
	var forgotten map[id.RoomID]bool
	for roomID, items := range byRoom {
		if !req.Filter.Room.MatchRoom(string(roomID)) {
			continue
		}
		var own []item
		for _, it := range items {
			if it.pdu.IsStateKey("m.room.member", string(req.User)) {
				own = append(own, it)
			}
		}
		membership := ms[roomID]
		if len(own) == 0 {
			if membership == "join" {
				if err := s.addIncrementalJoined(ctx, req, resp.Rooms, roomID, items, since, pos); err != nil {
					return nil, err
				}
			}
			continue
		}
		last := own[len(own)-1]
		membership = membershipOf(last.pdu.Content())
		if membership == "leave" || membership == "ban" {
			if forgotten == nil {
				if forgotten, err = s.forgotten(ctx, req.User); err != nil {
					return nil, err
				}
			}
			if forgotten[roomID] {
				continue
			}
		}
		nid, err := s.nidOf(ctx, own[0])
		if err != nil {
			return nil, err
		}
		before, err := s.membershipBefore(ctx, req.User, nid)
		if err != nil {
			return nil, err
		}
		// stayed: the user was joined at since and every change in the
		// window up to the last kept them joined (a profile change).
		stayed := before == "join"
		for _, it := range own[:len(own)-1] {
			stayed = stayed && membershipOf(it.pdu.Content()) == "join"
		}
		switch {
		case membership == "join" && stayed:
			err = s.addIncrementalJoined(ctx, req, resp.Rooms, roomID, items, since, pos)
		case membership == "join":
			// A new join (or a rejoin): the room in full.
			err = s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, nil)
		case (membership == "leave" || membership == "ban") && stayed:
			// The client has the room up to since: send what happened
			// from there up to the leave.
			var upto []item
			for _, it := range items {
				if it.pos <= last.pos {
					upto = append(upto, it)
				}
			}
			err = s.addIncrementalLeft(ctx, req, resp.Rooms, roomID, upto)
		case membership == "leave" || membership == "ban":
			err = s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, &last)
		default:
			err = s.addRoom(ctx, req, resp.Rooms, roomID, membership, pos, nil)
		}
		if err != nil {
			return nil, err
		}
	}
	if req.FullState {
		// full_state: every joined room gets its full state even if
		// nothing happened in it; its timeline is still bounded by since.
		for roomID, membership := range ms {
			if _, done := resp.Rooms.Join[string(roomID)]; done || membership != "join" || !req.Filter.Room.MatchRoom(string(roomID)) {
				continue
			}
			if err := s.addIncrementalJoined(ctx, req, resp.Rooms, roomID, nil, since, pos); err != nil {
				return nil, err
			}
		}
	}
	return resp, nil
}

// eventsInRange returns the events in (since, pos] of the rooms the user is
// or was in, by room, oldest first: from the ring when it still covers
// since, else from the store.
func (s *Service) eventsInRange(ctx context.Context, user id.UserID, ms map[id.RoomID]string, since, pos int64) (map[id.RoomID][]item, error) {
	out := map[id.RoomID][]item{}
	if entries, ok := s.timeline.Range(since, pos); ok {
		for _, e := range entries {
			roomID := e.pdu.RoomID()
			if _, member := ms[roomID]; !member {
				continue
			}
			out[roomID] = append(out[roomID], item{pos: e.pos, pdu: e.pdu, txnDevice: e.txnDevice, txnID: e.txnID})
		}
		for roomID, items := range out {
			out[roomID] = redactInWindow(items, s.now().UnixMilli())
		}
		return out, nil
	}
	// The ring has moved past since: read each room's newest events in the
	// range from the store. Enough to fill a limited timeline and notice
	// the user's own membership changes.
	for roomID := range ms {
		evs, err := s.db.RoomEventsRange(ctx, roomID, pos, since, store.Backward, MaxTimelineLimit+1)
		if err != nil {
			return nil, err
		}
		items, err := s.parse(ctx, roomID, evs)
		if err != nil {
			return nil, err
		}
		slices.Reverse(items)
		if len(items) > 0 {
			out[roomID] = items
		}
	}
	return out, nil
}

func (s *Service) nidOf(ctx context.Context, it item) (int64, error) {
	if it.nid != 0 {
		return it.nid, nil
	}
	ev, err := s.db.Event(ctx, it.pdu.EventID())
	if err != nil {
		return 0, fmt.Errorf("load event %s: %w", it.pdu.EventID(), err)
	}
	return ev.NID, nil
}

// addIncrementalJoined adds a joined room whose membership did not change:
// the new events as timeline, and when they exceed the limit, the state
// changes in the part left out (with full_state, the whole state at the
// start of the timeline).
func (s *Service) addIncrementalJoined(ctx context.Context, req Request, rooms *Rooms, roomID id.RoomID, items []item, since, pos int64) error {
	jr := newJoinedRoom()
	timeline, err := s.incrementalBatch(ctx, req, roomID, items, &jr.State, &jr.Timeline, true)
	if err != nil {
		return err
	}
	if !req.FullState {
		if err := s.addLazyMembers(ctx, req, roomID, jr, timeline, s.now().UnixMilli()); err != nil {
			return err
		}
	}
	counts, changed, fresh, err := s.unreadFor(ctx, req.User, roomID)
	if err != nil {
		return err
	}
	if req.FullState || fresh || changed > since {
		jr.UnreadNotifications = &counts
	}
	summarize := req.FullState
	for _, it := range items {
		summarize = summarize || it.pdu.Type() == "m.room.member"
	}
	if summarize {
		sum, err := s.summary(ctx, req.User, roomID)
		if err != nil {
			return err
		}
		jr.Summary = sum
	}
	sortState(jr.State.Events)
	rooms.Join[string(roomID)] = jr
	return nil
}

// addIncrementalLeft adds a room the user left (or was removed from) since
// the last sync while joined: the events from since up to the leave.
func (s *Service) addIncrementalLeft(ctx context.Context, req Request, rooms *Rooms, roomID id.RoomID, items []item) error {
	lr := &LeftRoom{State: StateBatch{Events: []clientevent.Event{}}, Timeline: TimelineBatch{Events: []clientevent.Event{}}, AccountData: EventBatch{Events: emptyRaw()}}
	if _, err := s.incrementalBatch(ctx, req, roomID, items, &lr.State, &lr.Timeline, false); err != nil {
		return err
	}
	sortState(lr.State.Events)
	rooms.Leave[string(roomID)] = lr
	return nil
}

// incrementalBatch fills state and timeline from the events of a room
// since the last sync, oldest first, and returns the timeline's events.
func (s *Service) incrementalBatch(ctx context.Context, req Request, roomID id.RoomID, items []item, state *StateBatch, tl *TimelineBatch, joined bool) ([]item, error) {
	tf := timelineFilter(req.Filter)
	limit := timelineLimit(tf)
	var skipped []item
	if len(items) > limit {
		skipped, items = items[:len(items)-limit], items[len(items)-limit:]
		tl.Limited = true
	}
	now := s.now().UnixMilli()
	var timeline []item
	for _, it := range items {
		if tf.MatchEvent(string(roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content()) {
			timeline = append(timeline, it)
			tl.Events = append(tl.Events, s.format(req, it, now))
		}
	}
	if len(items) > 0 {
		tl.PrevBatch = Token(items[0].pos - 1)
	}
	sf := stateFilter(req.Filter)
	if req.FullState {
		var first *item
		if len(items) > 0 {
			first = &items[0]
		}
		full, err := s.fullState(ctx, req, roomID, first, timeline, joined)
		if err != nil {
			return nil, err
		}
		state.Events = append(state.Events, full...)
		return timeline, nil
	}
	if tl.Limited {
		// The state between since and the start of the timeline: the
		// newest state event per key among the events left out.
		latest := map[event.StateKey]item{}
		for _, it := range skipped {
			if it.pdu.IsState() {
				latest[it.pdu.StateKeyTuple()] = it
			}
		}
		for _, it := range latest {
			if sf.MatchEvent(string(roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content()) {
				state.Events = append(state.Events, s.format(req, it, now))
			}
		}
	}
	return timeline, nil
}

// fullState returns a room's whole state before the event first, or the
// current state when first is nil; lazy-loading clients get only the
// member events of the timeline's senders and their own.
func (s *Service) fullState(ctx context.Context, req Request, roomID id.RoomID, first *item, timeline []item, joined bool) ([]clientevent.Event, error) {
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
		nids, err := s.stateBefore(ctx, roomID, item{nid: nid})
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
		sum, err := s.summary(ctx, req.User, roomID)
		if err != nil {
			return err
		}
		jr.Summary = sum
		counts, _, _, err := s.unreadFor(ctx, req.User, roomID)
		if err != nil {
			return err
		}
		jr.UnreadNotifications = &counts
		rooms.Join[string(roomID)] = jr
	case "invite", "knock":
		state, err := s.rooms.CurrentState(ctx, roomID)
		if err != nil {
			return fmt.Errorf("load state of %s: %w", roomID, err)
		}
		var stripped []clientevent.StrippedState
		for _, ev := range state {
			if slices.Contains(clientevent.StrippedStateTypes, ev.Type()) || ev.IsStateKey("m.room.member", string(req.User)) {
				stripped = append(stripped, clientevent.Strip(ev))
			}
		}
		sort.Slice(stripped, func(i, j int) bool {
			return stripped[i].Type < stripped[j].Type || stripped[i].Type == stripped[j].Type && stripped[i].StateKey < stripped[j].StateKey
		})
		if membership == "invite" {
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
		if err := s.fillFull(ctx, req, roomID, upto, &lr.State, &lr.Timeline, false); err != nil {
			return err
		}
		rooms.Leave[string(roomID)] = lr
	}
	return nil
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

// fillFull fills state and timeline for a room as of upto: of the newest
// events (at most the filter's limit), those the user may see under the
// room's history visibility, and the state before the first of them.
// joined is true for a room the user is joined to, where lazy-loading
// applies.
func (s *Service) fillFull(ctx context.Context, req Request, roomID id.RoomID, upto int64, state *StateBatch, tl *TimelineBatch, joined bool) error {
	tf := timelineFilter(req.Filter)
	limit := timelineLimit(tf)
	evs, err := s.db.RoomEventsRange(ctx, roomID, upto, 0, store.Backward, limit+1)
	if err != nil {
		return err
	}
	if len(evs) > limit {
		evs = evs[:limit]
		tl.Limited = true
	}
	visible, err := s.visibleEvents(ctx, req.User, joined, evs)
	if err != nil {
		return err
	}
	if len(visible) == 0 || visible[len(visible)-1].NID != evs[len(evs)-1].NID {
		// History before this point is not the user's to see, so there
		// is nothing for the client to page back to.
		tl.Limited = false
	}
	items, err := s.parse(ctx, roomID, visible)
	if err != nil {
		return err
	}
	slices.Reverse(items)
	var stateNIDs map[store.StateKey]int64
	if len(items) > 0 {
		if stateNIDs, err = s.stateBefore(ctx, roomID, items[0]); err != nil {
			return err
		}
	}
	now := s.now().UnixMilli()
	var timeline []item
	for _, it := range items {
		if tf.MatchEvent(string(roomID), it.pdu.Type(), string(it.pdu.Sender()), it.pdu.Content()) {
			timeline = append(timeline, it)
			tl.Events = append(tl.Events, s.format(req, it, now))
		}
	}
	if len(items) > 0 && tl.Limited {
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
	vid, err := s.rooms.Version(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("version of %s: %w", roomID, err)
	}
	v, ok := roomversion.Lookup(roomversion.ID(vid))
	if !ok {
		return nil, fmt.Errorf("room %s has unsupported version %q", roomID, vid)
	}
	out := make([]item, 0, len(evs))
	for _, e := range evs {
		raw := e.JSON
		if e.RedactedBecause != "" {
			if raw, err = event.Redact(raw, v); err != nil {
				return nil, fmt.Errorf("redact stored event %s: %w", e.EventID, err)
			}
		}
		pdu, err := event.ParseTrusted(raw, v, e.EventID)
		if err != nil {
			return nil, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
		}
		it := item{pos: e.StreamPos, nid: e.NID, pdu: pdu, txnDevice: e.TxnDeviceID, txnID: e.TxnID}
		if e.RedactedBecause != "" {
			if it.redactedBecause, err = s.clientEventJSON(ctx, roomID, v, e.RedactedBecause); err != nil {
				return nil, err
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// clientEventJSON loads a stored event and returns its client form.
func (s *Service) clientEventJSON(ctx context.Context, roomID id.RoomID, v *roomversion.Version, eventID id.EventID) (json.RawMessage, error) {
	e, err := s.db.Event(ctx, eventID)
	if err != nil {
		return nil, fmt.Errorf("load redaction %s: %w", eventID, err)
	}
	pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
	if err != nil {
		return nil, fmt.Errorf("parse redaction %s: %w", eventID, err)
	}
	return json.Marshal(clientevent.Format(pdu, s.now().UnixMilli(), false))
}

// redactInWindow serves redacted every event of a window whose redaction
// is in the same window, so a client that catches up sees the redacted
// form (events redacted before the window come redacted from the store).
func redactInWindow(items []item, now int64) []item {
	targets := map[id.EventID]*event.PDU{}
	for _, it := range items {
		if it.pdu.Type() == "m.room.redaction" && it.pdu.Redacts() != "" {
			targets[it.pdu.Redacts()] = it.pdu
		}
	}
	if len(targets) == 0 {
		return items
	}
	for i, it := range items {
		red, ok := targets[it.pdu.EventID()]
		if !ok {
			continue
		}
		v := it.pdu.Version()
		raw, err := event.Redact(it.pdu.JSON(), v)
		if err != nil {
			continue // a stored event always redacts; keep it as it is otherwise
		}
		pdu, err := event.ParseTrusted(raw, v, it.pdu.EventID())
		if err != nil {
			continue
		}
		because, err := json.Marshal(clientevent.Format(red, now, false))
		if err != nil {
			continue
		}
		items[i].pdu, items[i].redactedBecause = pdu, because
	}
	return items
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

// contentOf returns the content of a stored PDU's JSON, or nil.
func contentOf(pdu []byte) json.RawMessage {
	var e struct {
		Content json.RawMessage `json:"content"`
	}
	_ = json.Unmarshal(pdu, &e) // a stored event always has content
	return e.Content
}
