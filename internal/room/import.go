package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// ErrRoomKnown means a room this server is asked to import is stored
// already.
var ErrRoomKnown = errors.New("room is known already")

// RemoteJoin is a checked join of a local user to a room of other servers
// (see package fedjoin): the state before the join and the auth chain,
// every event checked, and the join as the resident server accepted it.
type RemoteJoin struct {
	RoomID    id.RoomID
	Version   *roomversion.Version
	Join      *event.PDU
	State     []*event.PDU
	AuthChain []*event.PDU
}

// ImportJoin stores a room this server joins through another server, in
// one transaction: the room, the state and auth chain events as outliers
// (no stream position: clients see them as the room's state, not as its
// timeline), the state before the join, and the join itself as the room's
// first timeline event and forward extremity, with the room's current
// state and memberships. The join is published to the event stream like
// any event. The room's head is loaded from the database on first use. It
// returns the join's stream position.
//
// A room this server knows already but has no joined user in (all of them
// left, and a user was invited back by another server) is joined again
// the same way: the state the resident server sent replaces the stale
// current state and forward extremities, under the room lock, and the head
// is read afresh on next use. ErrRoomKnown means a user of this server is
// joined to the room (it was joined meanwhile).
func (s *Service) ImportJoin(ctx context.Context, rj RemoteJoin) (int64, error) {
	var create *event.PDU
	for _, e := range rj.State {
		if e.IsStateKey("m.room.create", "") {
			create = e
		}
	}
	if create == nil {
		return 0, fmt.Errorf("import %s: the state has no create event", rj.RoomID)
	}
	if _, err := s.db.Room(ctx, rj.RoomID); err == nil {
		return s.importRejoin(ctx, rj)
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("import %s: %w", rj.RoomID, err)
	}
	var pos int64
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		err := tx.CreateRoom(ctx, store.Room{RoomID: rj.RoomID, RoomVersion: string(rj.Version.ID), Creator: create.Sender(), CreatedTS: create.OriginServerTS()})
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("import %s: %w", rj.RoomID, ErrRoomKnown)
		}
		if err != nil {
			return err
		}
		pos, err = s.writeJoin(ctx, tx, rj, 0, nil)
		return err
	})
	if err != nil {
		s.stream.Invalidate()
		return 0, err
	}
	return pos, nil
}

// importRejoin is ImportJoin for a room this server knows, unless a user
// of this server is joined to it (ErrRoomKnown).
func (s *Service) importRejoin(ctx context.Context, rj RemoteJoin) (int64, error) {
	rs, err := s.room(ctx, rj.RoomID)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", rj.RoomID, err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := s.ensureLoaded(ctx, rj.RoomID, rs); err != nil {
		return 0, fmt.Errorf("import %s: %w", rj.RoomID, err)
	}
	rs.head.RLock()
	if rs.version.ID != rj.Version.ID {
		rs.head.RUnlock()
		return 0, fmt.Errorf("import %s: the room's version is %s, not %s", rj.RoomID, rs.version.ID, rj.Version.ID)
	}
	resident := false
	var stale []store.StateKey
	for k, ev := range rs.state {
		if k.Type == "m.room.member" && id.UserID(k.StateKey).Domain() == s.serverName && authrules.MembershipOf(ev) == MembershipJoin {
			resident = true
		}
		stale = append(stale, store.StateKey{Type: k.Type, StateKey: k.StateKey})
	}
	generation := rs.generation
	rs.head.RUnlock()
	if resident {
		return 0, fmt.Errorf("import %s: %w", rj.RoomID, ErrRoomKnown)
	}
	var pos int64
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		pos, err = s.writeJoin(ctx, tx, rj, generation, stale)
		return err
	})
	// Whatever was written, the head is read afresh.
	rs.unload()
	if err != nil {
		s.stream.Invalidate()
		return 0, err
	}
	return pos, nil
}

// writeJoin writes a remote join in tx: the state and auth chain as
// outliers, the state groups before and after the join, the join, the
// current state (stale lists the keys of the room's current state until
// now, removed unless the new state has them), memberships and forward
// extremities, and advances the room's head from generation.
func (s *Service) writeJoin(ctx context.Context, tx *store.Tx, rj RemoteJoin, generation int64, stale []store.StateKey) (int64, error) {
	// The state and auth chain in multi-row inserts. Events stored
	// already keep their rows: a local user's invite to the room, stored
	// before this server was in it (ImportInvite), or an event of the
	// room from before this server left it.
	recs := make([]store.EventRecord, 0, len(rj.AuthChain)+len(rj.State))
	for _, e := range append(append([]*event.PDU(nil), rj.AuthChain...), rj.State...) {
		recs = append(recs, record(e, true))
	}
	nids, err := tx.InsertOutliers(ctx, recs)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", rj.RoomID, err)
	}
	state := map[store.StateKey]int64{}
	for _, e := range rj.State {
		k := e.StateKeyTuple()
		state[store.StateKey{Type: k.Type, StateKey: k.StateKey}] = nids[e.EventID()]
	}
	before, err := tx.StoreStateGroup(ctx, rj.RoomID, 0, state)
	if err != nil {
		return 0, fmt.Errorf("import state of %s: %w", rj.RoomID, err)
	}
	nid, pos, err := tx.InsertEvent(ctx, record(rj.Join, false))
	if err != nil {
		return 0, fmt.Errorf("import join of %s: %w", rj.RoomID, err)
	}
	if err := tx.SetEventState(ctx, nid, before); err != nil {
		return 0, err
	}
	jk := rj.Join.StateKeyTuple()
	joinKey := store.StateKey{Type: jk.Type, StateKey: jk.StateKey}
	after, err := tx.StoreStateGroup(ctx, rj.RoomID, before, map[store.StateKey]int64{joinKey: nid})
	if err != nil {
		return 0, fmt.Errorf("import state of %s: %w", rj.RoomID, err)
	}
	state[joinKey] = nid
	changes := maps.Clone(state)
	for _, k := range stale {
		if _, ok := changes[k]; !ok {
			changes[k] = 0
		}
	}
	if err := tx.UpdateCurrentState(ctx, rj.RoomID, changes); err != nil {
		return 0, err
	}
	var members []store.Member
	for _, e := range append(append([]*event.PDU(nil), rj.State...), rj.Join) {
		if e.Type() != "m.room.member" {
			continue
		}
		sk, _ := e.StateKey()
		m := store.Member{RoomID: rj.RoomID, UserID: id.UserID(sk), Membership: authrules.MembershipOf(e), EventNID: nids[e.EventID()], StreamPos: pos}
		if e == rj.Join {
			m.EventNID = nid
		}
		members = append(members, m)
	}
	if err := tx.SetMemberships(ctx, members); err != nil {
		return 0, err
	}
	if err := tx.DeleteRemoteInvites(ctx, rj.RoomID); err != nil {
		return 0, err
	}
	if err := tx.SetExtremities(ctx, rj.RoomID, []id.EventID{rj.Join.EventID()}); err != nil {
		return 0, err
	}
	if err := tx.AdvanceRoomHead(ctx, rj.RoomID, generation, after); err != nil {
		return 0, err
	}
	tx.AfterCommit(func() { s.notify([]Persisted{{PDU: rj.Join, StreamPos: pos}}) })
	return pos, nil
}

// record is the store record of an event of another server.
func record(e *event.PDU, outlier bool) store.EventRecord {
	rec := store.EventRecord{
		EventID: e.EventID(), RoomID: e.RoomID(), Type: e.Type(), Sender: e.Sender(), Depth: e.Depth(),
		OriginServerTS: e.OriginServerTS(), JSON: e.JSON(), Outlier: outlier,
	}
	if sk, ok := e.StateKey(); ok {
		rec.StateKey = &sk
	}
	return rec
}

// ImportInvite stores an invite of a local user to a room this server is
// not in, already checked and signed by this server: the invite event
// with a stream position (so the user's sync shows it, with inviteState,
// the stripped state the inviting server sent with it, as a JSON array)
// and as the user's membership. The room itself stays unknown until a user
// joins it (ImportJoin). It returns the invite's stream position.
func (s *Service) ImportInvite(ctx context.Context, invite *event.PDU, v *roomversion.Version, inviteState []byte) (int64, error) {
	return s.importOutsider(ctx, invite, v, inviteState)
}

// ImportRejection stores a local user's leave of a room this server is not
// in, which rejected the user's invite through another server: the leave
// with a stream position and as the user's membership; the invite's
// stripped state is forgotten.
func (s *Service) ImportRejection(ctx context.Context, leave *event.PDU, v *roomversion.Version) (int64, error) {
	return s.importOutsider(ctx, leave, v, nil)
}

// importOutsider stores a local user's membership event of a room this
// server is not in: an invite with its stripped state, or the leave that
// rejects it (inviteState nil).
func (s *Service) importOutsider(ctx context.Context, ev *event.PDU, v *roomversion.Version, inviteState []byte) (int64, error) {
	sk, _ := ev.StateKey()
	user := id.UserID(sk)
	var pos int64
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		nid, p, err := tx.InsertEvent(ctx, record(ev, false))
		if err != nil {
			return fmt.Errorf("import %s of %s: %w", ev.EventID(), ev.RoomID(), err)
		}
		pos = p
		if err := tx.SetMembership(ctx, store.Member{RoomID: ev.RoomID(), UserID: user, Membership: authrules.MembershipOf(ev), EventNID: nid, StreamPos: pos}); err != nil {
			return err
		}
		if inviteState == nil {
			// A rejection keeps the room's version known, for sync.
			inviteState = []byte("[]")
		}
		if err := tx.PutRemoteInvite(ctx, store.RemoteInvite{RoomID: ev.RoomID(), UserID: user, EventID: ev.EventID(), RoomVersion: string(v.ID), InviteState: inviteState}); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.notify([]Persisted{{PDU: ev, StreamPos: pos}}) })
		return nil
	})
	if err != nil {
		s.stream.Invalidate()
		return 0, err
	}
	return pos, nil
}

// InvitingServer returns the server whose user invited user to a room
// this server is not in, or an error wrapping store.ErrNotFound.
func (s *Service) InvitingServer(ctx context.Context, roomID id.RoomID, user id.UserID) (id.ServerName, error) {
	ri, err := s.db.RemoteInvite(ctx, roomID, user)
	if err != nil {
		return "", err
	}
	e, err := s.db.Event(ctx, ri.EventID)
	if err != nil {
		return "", fmt.Errorf("load invite %s: %w", ri.EventID, err)
	}
	return e.Sender.Domain(), nil
}

// RejectLocally rejects user's invite to a room this server is not in
// without the inviting server, when it cannot be reached: a leave that
// follows the invite, signed by this server and sent nowhere, is stored
// as with ImportRejection. The inviting server still counts the user as
// invited; clients no longer see the invite. Errors wrap
// store.ErrNotFound when the user has no such invite.
func (s *Service) RejectLocally(ctx context.Context, roomID id.RoomID, user id.UserID, reason string) (*event.PDU, error) {
	ri, err := s.db.RemoteInvite(ctx, roomID, user)
	if err != nil {
		return nil, err
	}
	v, ok := roomversion.Lookup(roomversion.ID(ri.RoomVersion))
	if !ok {
		return nil, fmt.Errorf("reject invite to %s: unknown room version %q", roomID, ri.RoomVersion)
	}
	stored, err := s.db.Event(ctx, ri.EventID)
	if err != nil {
		return nil, fmt.Errorf("load invite %s: %w", ri.EventID, err)
	}
	if authrules.Membership(event.RawContent(stored.JSON)) != MembershipInvite {
		return nil, fmt.Errorf("reject invite to %s: %w: the invite was answered already", roomID, store.ErrNotFound)
	}
	content := map[string]any{"membership": MembershipLeave}
	if reason != "" {
		content["reason"] = reason
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode leave content: %w", err)
	}
	sk := string(user)
	leave, err := event.Build(event.Proto{
		Type: "m.room.member", StateKey: &sk, Sender: user, RoomID: roomID, Content: raw,
		PrevEvents: []id.EventID{ri.EventID}, AuthEvents: []id.EventID{ri.EventID},
		Depth: stored.Depth + 1, OriginServerTS: s.now().UnixMilli(),
	}, v, s.key)
	if err != nil {
		return nil, fmt.Errorf("build local rejection of %s: %w", roomID, err)
	}
	if _, err := s.importOutsider(ctx, leave, v, nil); err != nil {
		return nil, err
	}
	return leave, nil
}
