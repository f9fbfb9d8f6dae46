// Spec: Client-Server API § Getting events for a room (state at a point of the room)
// OpenAPI: data/api/client-server/rooms.yaml (getRoomState, getMembersByRoom)
// OpenAPI: data/api/client-server/event_context.yaml
// https://spec.matrix.org/v1.19/client-server-api/#getting-events-for-a-room

package clientapi

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// The state the read endpoints show comes as event headers (store.Headers)
// for eventFormatter.prepare. The room head caches the headers of its
// current state (room.Service.CurrentStateHeaders), so the current state
// costs no query, and a state of the past takes the headers of the events
// it shares with the current state from there too.

// minCachedShare is the share (in percent) of a past state's events the
// head's cache must hold for headersAtGroup to use it; below it (a cold
// cache, a state far in the past) one query reads all headers.
const minCachedShare = 50

// stateHeadersAfter returns the state of a room just after a stored event
// (the state before it plus the event itself if it is a state event), of
// type typ ("" for all), as headers for eventFormatter.prepare (see
// headersAtGroup).
func (a *roomAPI) stateHeadersAfter(ctx context.Context, e store.Event, typ string) (store.Headers, error) {
	g, err := a.db.StateGroupBeforeEvent(ctx, e.NID)
	if err != nil {
		return store.Headers{}, fmt.Errorf("state before %s: %w", e.EventID, err)
	}
	h, err := a.headersAtGroup(ctx, e.RoomID, g, typ)
	if err != nil {
		return store.Headers{}, err
	}
	if e.StateKey == nil || e.Rejected || typ != "" && e.Type != typ {
		return h, nil
	}
	// The event itself replaces what the state before it had at its key.
	out := h.Events[:0]
	for _, s := range h.Events {
		if s.Type != e.Type || s.StateKey == nil || *s.StateKey != *e.StateKey {
			out = append(out, s)
		}
	}
	h.Events = append(out, e)
	return h, nil
}

// stateAfterFromHead is stateHeadersAfter for all types, served from the
// room head (see viewStateHeaders) when the state after e is the current
// state: e is not a state change and the state before it is the current
// state's group.
func (a *roomAPI) stateAfterFromHead(ctx context.Context, roomID id.RoomID, e store.Event, f *eventFormatter) (store.Headers, error) {
	if e.StateKey != nil && !e.Rejected {
		return a.stateHeadersAfter(ctx, e, "")
	}
	g, err := a.db.StateGroupBeforeEvent(ctx, e.NID)
	if err != nil {
		return store.Headers{}, fmt.Errorf("state before %s: %w", e.EventID, err)
	}
	cur, err := a.svc.CurrentStateGroup(ctx, roomID)
	if err != nil {
		return store.Headers{}, roomErr(err)
	}
	if cur != g {
		return a.stateHeadersAfter(ctx, e, "")
	}
	snap, err := a.svc.CurrentStateHeaders(ctx, roomID, "")
	if err != nil {
		return store.Headers{}, roomErr(err)
	}
	if snap.StateGroup != g {
		return a.stateHeadersAfter(ctx, e, "") // the state moved on meanwhile
	}
	f.useParsed(snap.Parsed)
	return snap.Headers, nil
}

// viewStateHeaders returns the state the view allows, of type typ ("" for
// all), as headers for f.prepare: the state when the user left, read in
// one query, or the current state, served from the room head (which also
// hands f its events parsed).
func (a *roomAPI) viewStateHeaders(ctx context.Context, roomID id.RoomID, v *roomView, typ string, f *eventFormatter) (store.Headers, error) {
	if v.leftAt != nil {
		return a.stateHeadersAfter(ctx, *v.leftAt, typ)
	}
	snap, err := a.svc.CurrentStateHeaders(ctx, roomID, typ)
	if err != nil {
		return store.Headers{}, roomErr(err)
	}
	f.useParsed(snap.Parsed)
	return snap.Headers, nil
}

// headersAtGroup returns the state at a group, of type typ ("" for all),
// as headers ordered by type and state key: the state's NIDs come in key
// order from the room head (which keeps the last few groups asked for),
// the headers of those the head's cache holds come from there, and the
// other events are read by NID (with their JSON, which prepare then need
// not load). When the cache holds too few of them it is warmed by reading
// the current state first, and if it still does, all headers are read in
// one query.
func (a *roomAPI) headersAtGroup(ctx context.Context, roomID id.RoomID, g int64, typ string) (store.Headers, error) {
	state, err := a.svc.StateAtGroupSorted(ctx, roomID, g)
	if err != nil {
		return store.Headers{}, roomErr(err)
	}
	nids := make([]int64, 0, len(state))
	for _, e := range state {
		if typ == "" || e.Type == typ {
			nids = append(nids, e.NID)
		}
	}
	h, missing, err := a.svc.CachedStateHeaders(ctx, roomID, nids)
	if err != nil {
		return store.Headers{}, roomErr(err)
	}
	if len(missing)*100 > len(nids)*(100-minCachedShare) {
		if _, err := a.svc.CurrentStateHeaders(ctx, roomID, ""); err != nil {
			return store.Headers{}, roomErr(err)
		}
		if h, missing, err = a.svc.CachedStateHeaders(ctx, roomID, nids); err != nil {
			return store.Headers{}, roomErr(err)
		}
		if len(missing)*100 > len(nids)*(100-minCachedShare) {
			return a.db.StateHeadersAtGroup(ctx, g, typ)
		}
	}
	if len(missing) == 0 {
		return h, nil
	}
	full, err := a.db.EventsByNID(ctx, missing)
	if err != nil {
		return store.Headers{}, fmt.Errorf("load state at group %d: %w", g, err)
	}
	reps, err := a.db.StateReplaces(ctx, missing)
	if err != nil {
		return store.Headers{}, fmt.Errorf("load state at group %d: %w", g, err)
	}
	for nid, rep := range reps {
		h.Replaces[nid] = rep
	}
	// CachedStateHeaders kept the order of nids: merge the loaded events
	// into their places.
	loaded := make(map[int64]store.Event, len(full))
	for _, e := range full {
		loaded[e.NID] = e
	}
	cached := h.Events
	h.Events = make([]store.Event, 0, len(nids))
	for _, nid := range nids {
		if len(cached) > 0 && cached[0].NID == nid {
			h.Events = append(h.Events, cached[0])
			cached = cached[1:]
		} else if e, ok := loaded[nid]; ok {
			h.Events = append(h.Events, e)
		}
	}
	return h, nil
}
