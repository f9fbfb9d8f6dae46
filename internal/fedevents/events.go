package fedevents

// Spec: Server-Server API § Retrieving events, § Retrieving event
// authorisation information
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// Event returns an event for server, if the room's history visibility
// lets the server see it. Errors wrap ErrEventNotFound or ErrNotVisible.
func (s *Service) Event(ctx context.Context, server id.ServerName, eventID id.EventID) (json.RawMessage, error) {
	ev, err := s.storedEvent(ctx, eventID, "")
	if err != nil {
		return nil, err
	}
	vis := s.visibilityFor(server)
	ok, err := vis.canSee(ctx, ev)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotVisible, eventID)
	}
	erased, err := vis.erasedCopy(ctx, ev)
	if err != nil || !erased {
		return ev.JSON, err
	}
	v, err := s.roomVersion(ctx, ev.RoomID)
	if err != nil {
		return nil, err
	}
	red, err := event.Redact(ev.JSON, v)
	if err != nil {
		return nil, fmt.Errorf("redact %s: %w", ev.EventID, err)
	}
	return red, nil
}

// RoomState is the state of a room before an event, with its auth chain.
type RoomState struct {
	State     []store.Event
	AuthChain []store.Event
}

// StateAt returns the state of roomID before eventID and the auth chain of
// that state, for server: the room's ACL must allow it and the event must
// be visible to it. Errors wrap room.ErrRoomNotFound, ErrDeniedByACL,
// ErrEventNotFound or ErrNotVisible.
func (s *Service) StateAt(ctx context.Context, server id.ServerName, roomID id.RoomID, eventID id.EventID) (RoomState, error) {
	v, ev, err := s.roomEvent(ctx, server, roomID, eventID)
	if err != nil {
		return RoomState{}, err
	}
	state, err := s.stateBefore(ctx, ev)
	if err != nil {
		return RoomState{}, err
	}
	chain, err := s.authChain(ctx, v, state)
	if err != nil {
		return RoomState{}, err
	}
	return RoomState{State: state, AuthChain: chain}, nil
}

// stateBefore returns the room's state before a stored event.
func (s *Service) stateBefore(ctx context.Context, ev store.Event) ([]store.Event, error) {
	group, err := s.DB.StateGroupBeforeEvent(ctx, ev.NID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s is stored without its state", ErrEventNotFound, ev.EventID)
	}
	if err != nil {
		return nil, fmt.Errorf("state before %s: %w", ev.EventID, err)
	}
	st, err := s.DB.StateAtGroup(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("state before %s: %w", ev.EventID, err)
	}
	nids := make([]int64, 0, len(st))
	for _, nid := range st {
		nids = append(nids, nid)
	}
	state, err := s.DB.EventsByNID(ctx, nids)
	if err != nil {
		return nil, fmt.Errorf("state before %s: %w", ev.EventID, err)
	}
	return state, nil
}

// EventAuth returns the auth chain of an event for server, under the same
// conditions as StateAt.
func (s *Service) EventAuth(ctx context.Context, server id.ServerName, roomID id.RoomID, eventID id.EventID) ([]store.Event, error) {
	v, ev, err := s.roomEvent(ctx, server, roomID, eventID)
	if err != nil {
		return nil, err
	}
	return s.authChain(ctx, v, []store.Event{ev})
}

// roomEvent checks a room-scoped request for an event: the room exists,
// its ACL allows server, the event is in it and visible to server.
func (s *Service) roomEvent(ctx context.Context, server id.ServerName, roomID id.RoomID, eventID id.EventID) (*roomversion.Version, store.Event, error) {
	v, err := s.roomVersionFor(ctx, roomID, server)
	if err != nil {
		return nil, store.Event{}, err
	}
	ev, err := s.storedEvent(ctx, eventID, roomID)
	if err != nil {
		return nil, store.Event{}, err
	}
	ok, err := s.visibilityFor(server).canSee(ctx, ev)
	if err != nil {
		return nil, store.Event{}, err
	}
	if !ok {
		return nil, store.Event{}, fmt.Errorf("%w: %s", ErrNotVisible, eventID)
	}
	return v, ev, nil
}

// roomVersion returns the version of a room this server knows.
func (s *Service) roomVersion(ctx context.Context, roomID id.RoomID) (*roomversion.Version, error) {
	vs, err := s.Rooms.Version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	v, ok := roomversion.Lookup(roomversion.ID(vs))
	if !ok {
		return nil, fmt.Errorf("room %s has unsupported version %q", roomID, vs)
	}
	return v, nil
}

// roomVersionFor returns the version of a room this server knows, if the
// room's ACL allows server (an error wrapping ErrDeniedByACL otherwise).
func (s *Service) roomVersionFor(ctx context.Context, roomID id.RoomID, server id.ServerName) (*roomversion.Version, error) {
	v, err := s.roomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if err := s.CheckACL(ctx, roomID, server); err != nil {
		return nil, err
	}
	return v, nil
}

// storedEvent loads an event that is not rejected (and, if roomID is set,
// is in that room), or returns an error wrapping ErrEventNotFound.
func (s *Service) storedEvent(ctx context.Context, eventID id.EventID, roomID id.RoomID) (store.Event, error) {
	ev, err := s.DB.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (ev.Rejected || (roomID != "" && ev.RoomID != roomID))) {
		return store.Event{}, fmt.Errorf("%w: %s", ErrEventNotFound, eventID)
	}
	if err != nil {
		return store.Event{}, err
	}
	return ev, nil
}

// maxAuthChain bounds the auth chain one request walks.
const maxAuthChain = 100000

// authChain returns the auth events of evs and theirs, recursively,
// without evs themselves unless one is an auth event of another.
func (s *Service) authChain(ctx context.Context, v *roomversion.Version, evs []store.Event) ([]store.Event, error) {
	seen := map[id.EventID]bool{}
	var frontier []id.EventID
	add := func(e store.Event) error {
		pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
		if err != nil {
			return fmt.Errorf("parse stored event %s: %w", e.EventID, err)
		}
		for _, a := range pdu.AuthEvents() {
			if !seen[a] {
				seen[a] = true
				frontier = append(frontier, a)
			}
		}
		return nil
	}
	for _, e := range evs {
		if err := add(e); err != nil {
			return nil, err
		}
	}
	if v.RoomIDFromCreateEvent && len(evs) > 0 {
		// v12: the create event is no auth event, but is in every chain.
		create := id.EventID("$" + string(evs[0].RoomID)[1:])
		if !seen[create] {
			seen[create] = true
			frontier = append(frontier, create)
		}
	}
	var out []store.Event
	for len(frontier) > 0 {
		if len(seen) > maxAuthChain {
			return nil, fmt.Errorf("auth chain of more than %d events", maxAuthChain)
		}
		batch := frontier
		frontier = nil
		loaded, err := s.DB.EventsByID(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("load auth chain: %w", err)
		}
		for _, e := range loaded {
			out = append(out, e)
			if err := add(e); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
