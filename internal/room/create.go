package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/store"
)

// ErrInvalidRoomState means the events a createRoom request implies do not
// pass the auth rules (for example a power level override that leaves the
// creator unable to send the later events).
var ErrInvalidRoomState = errors.New("invalid initial room state")

// CreateRoom creates a room as POST /createRoom describes and returns the
// room ID. The room row, all of its initial events and its alias are
// written in one transaction: when the alias is taken (ErrAliasInUse),
// nothing of the room is left behind.
func (s *Service) CreateRoom(ctx context.Context, r *CreateRequest) (id.RoomID, error) {
	for _, u := range r.Invite {
		if u.Domain() != s.serverName && s.inviter == nil {
			return "", fmt.Errorf("%w: inviting %s needs federation, which is not configured", ErrForbidden, u)
		}
	}
	plan, err := planCreate(r)
	if err != nil {
		return "", err
	}
	// Two identical requests in the same millisecond build the same v12
	// create event and so the same room ID; the one that loses the race
	// builds its room again a moment later.
	for attempt := 1; ; attempt++ {
		roomID, err := s.createOnce(ctx, r, plan)
		if err == nil {
			s.inviteRemoteCreate(ctx, roomID, r)
		}
		if !errors.Is(err, errRoomIDTaken) || attempt == 3 {
			return roomID, err
		}
		time.Sleep(time.Millisecond)
	}
}

// errRoomIDTaken is returned by createOnce when the room ID it built is
// already in use.
var errRoomIDTaken = errors.New("room ID already in use")

// createOnce builds and persists a new room's events once.
func (s *Service) createOnce(ctx context.Context, r *CreateRequest, plan []plannedEvent) (id.RoomID, error) {
	v := r.Version
	var roomID id.RoomID
	if !v.RoomIDFromCreateEvent {
		roomID = id.RoomID("!" + randomLocalpart() + ":" + string(s.serverName))
	}
	rs := &roomState{version: v, state: map[event.StateKey]*event.PDU{}, stateNIDs: map[event.StateKey]int64{}}
	rs.loaded.Store(true)
	rs.mu.Lock()
	defer rs.mu.Unlock()

	head := newOverlay(rs)
	entries := make([]*entry, 0, len(plan))
	for _, pe := range plan {
		sk := pe.stateKey
		p := Proposal{Type: pe.typ, StateKey: &sk, Sender: r.Creator, Content: pe.content}
		pdu, err := s.buildAndCheck(roomID, v, head, head.prevEvents(), p)
		if errors.Is(err, ErrForbidden) {
			return "", fmt.Errorf("%w: %s: %v", ErrInvalidRoomState, pe.typ, err)
		}
		if err != nil {
			return "", fmt.Errorf("%s event: %w", pe.typ, err)
		}
		if roomID == "" {
			roomID = pdu.RoomID() // v12: the room ID is the create event's hash
		}
		head.applyLinear(pdu)
		entries = append(entries, &entry{pdu: pdu, prop: p, verdict: pducheck.Accept, stateKnown: true, linear: true})
	}
	rec := &newRoomRecord{room: store.Room{
		RoomID:      roomID,
		RoomVersion: string(v.ID),
		Creator:     r.Creator,
		CreatedTS:   entries[0].pdu.OriginServerTS(),
		IsPublic:    r.Visibility == "public",
	}}
	if r.Alias != "" {
		rec.alias = &store.RoomAlias{Alias: r.Alias, RoomID: roomID, Creator: r.Creator}
	}
	if err := s.persist(ctx, roomID, rs, head, entries, rec); err != nil {
		return "", err
	}
	return roomID, nil
}

// newRoomRecord is what a new room writes besides its events: its row and,
// when createRoom named one, its alias.
type newRoomRecord struct {
	room  store.Room
	alias *store.RoomAlias
}

// write creates the room row and the alias in tx. A taken alias is
// ErrAliasInUse, which fails the whole transaction.
func (n *newRoomRecord) write(ctx context.Context, tx *store.Tx) error {
	err := tx.CreateRoom(ctx, n.room)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s", errRoomIDTaken, n.room.RoomID)
	}
	if err != nil {
		return fmt.Errorf("create room %s: %w", n.room.RoomID, err)
	}
	if n.alias == nil {
		return nil
	}
	err = tx.CreateRoomAlias(ctx, *n.alias)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s", ErrAliasInUse, n.alias.Alias)
	}
	if err != nil {
		return fmt.Errorf("create alias of new room %s: %w", n.room.RoomID, err)
	}
	return nil
}

// inviteRemoteCreate invites the users of other servers a createRoom
// request names, now that the room exists. An invite their server refuses
// does not undo the room; it is logged.
func (s *Service) inviteRemoteCreate(ctx context.Context, roomID id.RoomID, r *CreateRequest) {
	for _, u := range dedupeUsers(r.Invite, r.Creator) {
		if u.Domain() == s.serverName {
			continue
		}
		_, err := s.ChangeMembership(ctx, roomID, MembershipChange{Sender: r.Creator, Target: u, Membership: MembershipInvite, IsDirect: r.IsDirect})
		if err != nil && s.log != nil {
			s.log.Warn("remote invite of new room failed", "room_id", roomID, "user_id", u, "err", err)
		}
	}
}
