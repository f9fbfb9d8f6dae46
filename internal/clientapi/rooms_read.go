// Spec: Client-Server API § Getting events for a room, § Syncing (GET /messages), § Room history visibility
// OpenAPI: data/api/client-server/message_pagination.yaml
// OpenAPI: data/api/client-server/event_context.yaml
// OpenAPI: data/api/client-server/rooms.yaml (getOneRoomEvent; the members endpoints are in rooms_members.go)
// OpenAPI: data/api/client-server/list_joined_rooms.yaml
// https://spec.matrix.org/v1.19/client-server-api/#getting-events-for-a-room

package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Pagination limits.
const (
	defaultPageLimit = 10
	maxPageLimit     = 1000
	// maxPageScan bounds the events one request reads while skipping
	// events the user may not see; a page cut short by it still carries an
	// end token, so the client continues from there.
	maxPageScan = 5000
)

// roomView is what a user may read of a room.
type roomView struct {
	version *roomversion.Version
	// joined: the user is joined now.
	joined bool
	// leftAt, for a user who left or was banned, is that membership event:
	// state reads see the room as it was then.
	leftAt *store.Event
}

// view decides whether user may read the room: members see it now, former
// members as it was when they left (until they forget the room: "a user
// will no longer be able to retrieve history for this room"), anyone else
// only a world_readable room. Otherwise 403 M_FORBIDDEN.
func (a *roomAPI) view(ctx context.Context, roomID id.RoomID, user id.UserID) (*roomView, error) {
	v, err := a.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	member, err := a.memberEvent(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	switch authrules.MembershipOf(member) {
	case room.MembershipJoin:
		return &roomView{version: v, joined: true}, nil
	case room.MembershipLeave, room.MembershipBan:
		forgot, err := a.db.HasForgotten(ctx, user, roomID)
		if err != nil {
			return nil, err
		}
		if forgot {
			break
		}
		e, err := a.db.Event(ctx, member.EventID())
		if err != nil {
			return nil, fmt.Errorf("load membership event: %w", err)
		}
		if a.worldReadable(ctx, roomID) {
			return &roomView{version: v}, nil
		}
		return &roomView{version: v, leftAt: &e}, nil
	}
	if a.worldReadable(ctx, roomID) {
		return &roomView{version: v}, nil
	}
	return nil, matrixerr.Forbidden("you are not a member of this room")
}

// pathRoomView parses the {roomId} path parameter and decides what the user
// may read of the room (see view).
func (a *roomAPI) pathRoomView(r *http.Request, sess session) (id.RoomID, *roomView, error) {
	roomID, err := pathRoomID(r)
	if err != nil {
		return "", nil, err
	}
	v, err := a.view(r.Context(), roomID, sess.UserID)
	if err != nil {
		return "", nil, err
	}
	return roomID, v, nil
}

// pathRoomCurrentView is pathRoomView for the endpoints that show only the
// room as it is now: members, and anyone in a world_readable room, may read
// it; former members get 403 M_FORBIDDEN.
func (a *roomAPI) pathRoomCurrentView(r *http.Request, sess session) (id.RoomID, error) {
	roomID, v, err := a.pathRoomView(r, sess)
	if err != nil {
		return "", err
	}
	if !v.joined && v.leftAt != nil {
		return "", matrixerr.Forbidden("you are not a member of this room")
	}
	return roomID, nil
}

// worldReadable reports whether the room's current history_visibility is
// world_readable.
func (a *roomAPI) worldReadable(ctx context.Context, roomID id.RoomID) bool {
	ev, err := a.svc.CurrentStateEvent(ctx, roomID, "m.room.history_visibility", "")
	if err != nil || ev == nil {
		return false
	}
	return contentString(ev.Content(), "history_visibility") == room.HistoryWorldReadable
}

// minBackfill is the fewest events /messages asks other servers for when
// the local history runs out.
const minBackfill = 20

// parseLimit parses the limit query parameter: default def, at most
// maxPageLimit, 400 M_INVALID_PARAM for anything but a non-negative
// integer.
func parseLimit(q url.Values, def int) (int, error) {
	n, err := httpapi.NonNegativeParam(q, "limit", def)
	return min(n, maxPageLimit), err
}

// parseEventFilter parses the filter query parameter, a RoomEventFilter as
// JSON: 400 M_BAD_JSON if it is not one.
func parseEventFilter(q string) (*clientsync.RoomEventFilter, error) {
	if q == "" {
		return nil, nil
	}
	data := bytes.TrimSpace([]byte(q))
	if !json.Valid(data) || len(data) == 0 || data[0] != '{' {
		return nil, matrixerr.BadJSON("filter must be a JSON object")
	}
	// The RoomEventFilter is validated as the timeline part of a filter.
	f, err := clientsync.ParseFilter([]byte(`{"room":{"timeline":` + string(data) + `}}`))
	if err != nil {
		return nil, filterErr(err)
	}
	return f.Room.Timeline, nil
}

// parsePageQuery parses the limit and filter query parameters that
// /messages and /context share, in that order (see parseLimit and
// parseEventFilter).
func parsePageQuery(q url.Values) (int, *clientsync.RoomEventFilter, error) {
	limit, err := parseLimit(q, defaultPageLimit)
	if err != nil {
		return 0, nil, err
	}
	filter, err := parseEventFilter(q.Get("filter"))
	if err != nil {
		return 0, nil, err
	}
	return limit, filter, nil
}

// page is the result of paginate.
type page struct {
	events []store.Event
	// next is the point just past the last event returned (or scanned),
	// from which a following request continues.
	next store.TopoPos
	// more reports whether visible events may remain in that direction.
	more bool
}

// paginate walks a room's timeline in topological order from the point
// from towards bound in direction dir and returns up to limit events the
// user may see that pass filter.
func (a *roomAPI) paginate(ctx context.Context, roomID id.RoomID, user id.UserID, joined bool,
	from, bound store.TopoPos, dir store.Direction, limit int, filter *clientsync.RoomEventFilter) (page, error) {
	// after returns the point just past e in the walking direction.
	after := func(e store.Event) store.TopoPos {
		if dir == store.Backward {
			return store.TopoPosOf(e).Before()
		}
		return store.TopoPosOf(e)
	}
	p := page{next: from}
	ignored, err := a.ignoredBy(ctx, user)
	if err != nil {
		return page{}, err
	}
	cursor, scanned := from, 0
	for {
		batch, err := a.db.RoomEventsTopo(ctx, roomID, cursor, bound, dir, limit+1)
		if err != nil {
			return page{}, err
		}
		if len(batch) == 0 {
			return p, nil
		}
		scanned += len(batch)
		visible, err := room.FilterVisible(ctx, a.db, user, joined, batch)
		if err != nil {
			return page{}, err
		}
		shown := make(map[int64]store.Event, len(visible))
		for _, e := range visible {
			// Ignored users' events are left out, their state events not.
			if filter.MatchEvent(string(roomID), e.Type, string(e.Sender), event.RawContent(e.JSON)) &&
				(e.StateKey != nil || !ignored[e.Sender]) {
				shown[e.NID] = e
			}
		}
		for _, e := range batch {
			v, ok := shown[e.NID]
			if !ok {
				p.next = after(e)
				continue
			}
			if len(p.events) == limit {
				p.more = true // one more visible event exists
				return p, nil
			}
			p.events = append(p.events, v)
			p.next = after(e)
		}
		cursor = after(batch[len(batch)-1])
		if len(batch) < limit+1 {
			return p, nil
		}
		if scanned >= maxPageScan {
			p.next, p.more = cursor, true
			return p, nil
		}
	}
}

// reachesCreation reports whether evs holds the room's m.room.create
// event, the first event of every room.
func reachesCreation(evs []store.Event) bool {
	for _, e := range evs {
		if e.Type == "m.room.create" && e.StateKey != nil && *e.StateKey == "" {
			return true
		}
	}
	return false
}

// ignoredBy returns the users user ignores (none without account data).
func (a *roomAPI) ignoredBy(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	if a.s.AccountData == nil {
		return nil, nil
	}
	return a.s.AccountData.IgnoredUsers(ctx, user)
}

// getRoomEvents returns a page of a room's timeline.
//
// GET /_matrix/client/v3/rooms/{roomId}/messages
//
// Events come in topological order, by (depth, stream position), so that
// history which arrives late takes its place by depth. from and to may be
// topological tokens ("t<depth>-<stream>", which start and end are) or
// stream tokens from sync (see rooms_tokens.go). Backwards from a point
// returns the event there and those before it, forwards the events after
// it, so following end tokens never returns an event twice. end is left
// out once no further visible event exists.
func (a *roomAPI) getRoomEvents(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var dir store.Direction
	switch q.Get("dir") {
	case "b":
		dir = store.Backward
	case "f":
		dir = store.Forward
	case "":
		return matrixerr.MissingParam("dir")
	default:
		return matrixerr.InvalidParam("dir must be b or f")
	}
	limit, filter, err := parsePageQuery(q)
	if err != nil {
		return err
	}
	fromTok := clientsync.PageToken{Stream: math.MaxInt64} // backwards from the newest
	if dir == store.Forward {
		fromTok = clientsync.PageToken{Topological: true} // forwards from the start
	}
	if tok := q.Get("from"); tok != "" {
		if fromTok, err = parsePageToken("from", tok); err != nil {
			return err
		}
	}
	var toTok *clientsync.PageToken
	if tok := q.Get("to"); tok != "" {
		t, err := parsePageToken("to", tok)
		if err != nil {
			return err
		}
		toTok = &t
	}
	ctx := r.Context()
	v, err := a.view(ctx, roomID, sess.UserID)
	if err != nil {
		return err
	}
	from, err := a.topoPos(ctx, roomID, fromTok)
	if err != nil {
		return err
	}
	bound := store.TopoPos{}
	if dir == store.Forward {
		bound = store.MaxTopoPos
	}
	if toTok != nil {
		if bound, err = a.topoPos(ctx, roomID, *toTok); err != nil {
			return err
		}
	}
	// atLeave: a forward walk ends at the user's leave, after which
	// nothing is theirs to see.
	atLeave := false
	if v.leftAt != nil {
		// A former member sees nothing after leaving: do not walk it.
		left := store.TopoPosOf(*v.leftAt)
		if dir == store.Backward && left.Less(from) {
			from = left
		} else if dir == store.Forward && left.Less(bound) {
			bound, atLeave = left, true
		}
	}
	// start is the value given as from (as the spec has it), or else the
	// point the walk starts at.
	start := q.Get("from")
	if start == "" {
		start = topoToken(from)
	}
	resp := map[string]any{"start": start}
	var events []store.Event
	if limit > 0 {
		p, err := a.paginate(ctx, roomID, sess.UserID, v.joined, from, bound, dir, limit, filter)
		if err != nil {
			return err
		}
		holes := false
		if dir == store.Backward && a.history != nil {
			if p, holes, err = a.fillHoles(ctx, httpapi.Logger(r), roomID, sess.UserID, v.joined, from, bound, limit, filter, p); err != nil {
				return err
			}
		}
		if dir == store.Backward && !p.more && !holes && bound == (store.TopoPos{}) && a.history != nil {
			// The local history runs out: fetch more from the servers in
			// the room, then walk on from where the page ended.
			n, err := a.history.BackfillRoom(ctx, roomID, max(limit, minBackfill))
			if err != nil {
				httpapi.Logger(r).Debug("could not fetch history", "room_id", roomID, "err", err)
			}
			if n > 0 && len(p.events) < limit {
				rest, err := a.paginate(ctx, roomID, sess.UserID, v.joined, p.next, bound, dir, limit-len(p.events), filter)
				if err != nil {
					return err
				}
				p.events, p.next = append(p.events, rest.events...), rest.next
			}
			// More may wait on the other servers: the next page asks,
			// unless this page reached the room's creation, before which
			// there is nothing (the spec omits end then).
			p.more = n > 0 && !reachesCreation(p.events)
		}
		events = p.events
		// The end token is left out only where no further events can
		// come: at the start of the room, or at a former member's leave
		// ("the user does not have permission to see any more events").
		// A page that stopped at to, or at the newest event going
		// forwards (others may follow), gets one to go on from, as other
		// servers give it.
		stoppedEarly := len(events) > 0 && (dir == store.Forward && !atLeave || bound != (store.TopoPos{}) && !reachesCreation(events))
		if p.more || stoppedEarly {
			resp["end"] = topoToken(p.next)
		}
	} else {
		resp["end"] = topoToken(from)
	}
	f := a.formatter(roomID, v.version, sess)
	chunk, err := f.formatAll(r.Context(), events)
	if err != nil {
		return err
	}
	resp["chunk"] = chunk
	if filter != nil && filter.LazyLoadMembers {
		var members []store.Event
		if len(events) > 0 {
			// As of the page's newest event (its first going backwards,
			// its last going forwards), so a page of history shows its
			// senders as they were then, those who joined within it too.
			newest := events[0]
			if dir == store.Forward {
				newest = events[len(events)-1]
			}
			if members, err = a.senderMembers(r.Context(), newest, events); err != nil {
				return err
			}
		}
		state, err := f.formatAll(r.Context(), members)
		if err != nil {
			return err
		}
		resp["state"] = state
	}
	return httpapi.OK(w, resp)
}

// senderMembers returns the m.room.member events of the senders of
// events, for lazy-loading clients (/messages, /context): those of the
// state just after the event newest (a page's newest), so that a user who
// left sees nothing of what came after (never the current state, which
// may be newer than anything the user may see). Only the senders' keys of
// that state are read, however many members the room has. Every sender's
// member event is returned, so include_redundant_members is met either
// way.
func (a *roomAPI) senderMembers(ctx context.Context, newest store.Event, events []store.Event) ([]store.Event, error) {
	g, err := a.db.StateGroupBeforeEvent(ctx, newest.NID)
	if err != nil {
		return nil, fmt.Errorf("state before %s: %w", newest.EventID, err)
	}
	seen := map[id.UserID]bool{}
	var keys []store.StateKey
	for _, e := range events {
		if !seen[e.Sender] {
			seen[e.Sender] = true
			keys = append(keys, store.StateKey{Type: "m.room.member", StateKey: string(e.Sender)})
		}
	}
	at, err := a.db.StateKeysAtGroup(ctx, g, keys)
	if err != nil {
		return nil, fmt.Errorf("senders' members before %s: %w", newest.EventID, err)
	}
	// newest itself is part of the state after it.
	if newest.Type == "m.room.member" && newest.StateKey != nil && !newest.Rejected && seen[id.UserID(*newest.StateKey)] {
		at[store.StateKey{Type: "m.room.member", StateKey: *newest.StateKey}] = newest.NID
	}
	nids := make([]int64, 0, len(at))
	for _, nid := range at {
		nids = append(nids, nid)
	}
	members, err := a.db.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("senders' member events: %w", err)
	}
	return members, nil
}

// visibleEvent loads one event of a room that the user may see: 404
// M_NOT_FOUND if it does not exist there or is hidden from them.
func (a *roomAPI) visibleEvent(ctx context.Context, roomID id.RoomID, eventID id.EventID, user id.UserID, joined bool) (store.Event, error) {
	notFound := matrixerr.NotFound("event not found")
	e, err := a.db.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Event{}, notFound
	}
	if err != nil {
		return store.Event{}, err
	}
	if e.RoomID != roomID || !e.ShownToClients() {
		return store.Event{}, notFound
	}
	vis, err := room.FilterVisible(ctx, a.db, user, joined, []store.Event{e})
	if err != nil {
		return store.Event{}, err
	}
	if len(vis) == 0 {
		return store.Event{}, notFound
	}
	return vis[0], nil
}

// getOneRoomEvent returns one event.
//
// GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}
func (a *roomAPI) getOneRoomEvent(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, eventID, err := pathRoomEventID(r)
	if err != nil {
		return err
	}
	v, err := a.view(r.Context(), roomID, sess.UserID)
	if err != nil {
		// The spec answers 404 for events the user may not read.
		var me *matrixerr.Error
		if errors.As(err, &me) && me.Kind == matrixerr.KindForbidden {
			return matrixerr.NotFound("event not found")
		}
		return err
	}
	e, err := a.visibleEvent(r.Context(), roomID, eventID, sess.UserID, v.joined)
	if err != nil {
		return err
	}
	ce, err := a.formatter(roomID, v.version, sess).format(r.Context(), e)
	if err != nil {
		return err
	}
	return httpapi.OK(w, ce)
}

// getEventContext returns an event with the events around it.
//
// GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}
//
// limit is shared between events_before (half, rounded down) and
// events_after; the filter applies to both and to state, which is the
// state at the last event returned. With lazy_load_members, state holds
// only the member events of the returned events' senders.
func (a *roomAPI) getEventContext(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, eventID, err := pathRoomEventID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, filter, err := parsePageQuery(q)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v, err := a.view(ctx, roomID, sess.UserID)
	if err != nil {
		return err
	}
	e, err := a.visibleEvent(ctx, roomID, eventID, sess.UserID, v.joined)
	if err != nil {
		return err
	}
	nBefore := limit / 2
	nAfter := limit - nBefore
	at := store.TopoPosOf(e)
	before := page{next: at.Before()}
	if nBefore > 0 {
		if before, err = a.paginate(ctx, roomID, sess.UserID, v.joined, at.Before(), store.TopoPos{}, store.Backward, nBefore, filter); err != nil {
			return err
		}
	}
	after := page{next: at}
	if nAfter > 0 {
		if after, err = a.paginate(ctx, roomID, sess.UserID, v.joined, at, store.MaxTopoPos, store.Forward, nAfter, filter); err != nil {
			return err
		}
	}
	last := e
	if n := len(after.events); n > 0 {
		last = after.events[n-1]
	}
	f := a.formatter(roomID, v.version, sess)
	headers, err := a.stateAfterFromHead(ctx, roomID, last, f)
	if err != nil {
		return err
	}
	lazy := filter != nil && filter.LazyLoadMembers
	if lazy {
		// Of the members, only the senders of the events returned.
		others := make([]store.Event, 0, len(headers.Events))
		for _, h := range headers.Events {
			if h.Type != "m.room.member" {
				others = append(others, h)
			}
		}
		headers.Events = others
	}
	stateEvents, err := f.prepare(ctx, headers)
	if err != nil {
		return err
	}
	if lazy {
		returned := slices.Concat(before.events, []store.Event{e}, after.events)
		members, err := a.senderMembers(ctx, last, returned)
		if err != nil {
			return err
		}
		stateEvents = append(stateEvents, members...)
	}
	state := stateEvents
	if filter != nil {
		state = nil
		for _, s := range stateEvents {
			var content json.RawMessage // only contains_url reads it
			if filter.ContainsURL != nil {
				content = f.rawContent(s)
			}
			if filter.MatchEvent(string(roomID), s.Type, string(s.Sender), content) {
				state = append(state, s)
			}
		}
	}
	start, err := json.Marshal(topoToken(before.next))
	if err != nil {
		return fmt.Errorf("encode context start: %w", err)
	}
	end, err := json.Marshal(topoToken(after.next))
	if err != nil {
		return fmt.Errorf("encode context end: %w", err)
	}
	out := append(append(append([]byte(`{"start":`), start...), `,"end":`...), end...)
	for _, part := range []struct {
		key    string
		events []store.Event
	}{{"events_before", before.events}, {"events_after", after.events}, {"state", state}} {
		formatted, err := f.formatAll(ctx, part.events)
		if err != nil {
			return err
		}
		out = append(append(append(out, `,"`...), part.key...), `":`...)
		out = clientevent.AppendList(out, formatted)
	}
	ev, err := f.format(ctx, e)
	if err != nil {
		return err
	}
	out = ev.AppendJSON(append(out, `,"event":`...))
	return httpapi.OKRawJSON(w, append(out, '}'))
}

// getJoinedRooms lists the rooms the user is joined to.
//
// GET /_matrix/client/v3/joined_rooms
func (a *roomAPI) getJoinedRooms(w http.ResponseWriter, r *http.Request, sess session) error {
	rooms, err := a.db.JoinedRooms(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	if rooms == nil {
		rooms = []id.RoomID{}
	}
	return httpapi.OK(w, map[string]any{"joined_rooms": rooms})
}
