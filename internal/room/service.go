package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// Persisted is an event the event path has committed, with its position in
// the server's event stream.
type Persisted = stream.Event

// Service is the event path for local events. It is safe for concurrent use.
type Service struct {
	db         *store.DB
	serverName id.ServerName
	key        signing.Key
	log        *slog.Logger
	now        func() time.Time

	// stream receives every committed batch, in commit order, from the
	// store's after-commit hook.
	stream *stream.Stream

	mu    sync.Mutex
	rooms map[id.RoomID]*roomState
}

// Config holds a Service's dependencies.
type Config struct {
	DB         *store.DB
	ServerName id.ServerName
	Key        signing.Key
	Logger     *slog.Logger
	// Stream is where committed events are published for their
	// consumers (sync, and later federation and push); nil gives the
	// Service a stream of its own starting at position 0.
	Stream *stream.Stream
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	st := cfg.Stream
	if st == nil {
		st = stream.New(0, 0)
	}
	return &Service{
		stream:     st,
		db:         cfg.DB,
		serverName: cfg.ServerName,
		key:        cfg.Key,
		log:        cfg.Logger,
		now:        now,
		rooms:      map[id.RoomID]*roomState{},
	}
}

// Stream returns the stream the Service publishes committed events to.
func (s *Service) Stream() *stream.Stream { return s.stream }

// roomState is the in-memory head of one room. mu is the room lock: it is
// held while a batch of the room's events is built, checked and persisted,
// and by every writer of the head fields. head guards the head fields
// against readers that do not hold the room lock (current-state queries),
// so that they never wait for a batch's commit: writers take it only for
// the moment they change the fields.
type roomState struct {
	mu sync.Mutex

	// pmu guards pending, the requests waiting for the next batch.
	pmu     sync.Mutex
	pending []*request

	// loaded is set once the head fields hold the room; version never
	// changes after that.
	loaded atomic.Bool
	head   sync.RWMutex

	version     *roomversion.Version
	state       map[event.StateKey]*event.PDU
	stateNIDs   map[event.StateKey]int64
	stateGroup  int64
	extremities []*event.PDU
	depth       int64

	// recentTxns maps the client transactions of recently persisted events
	// to those events, so a retry racing its original is answered with the
	// original instead of failing its batch on the unique transaction ID.
	recentTxns map[txnKey]*event.PDU
}

// txnKey identifies a client transaction.
type txnKey struct {
	user   id.UserID
	device id.DeviceID
	txn    string
}

// maxRecentTxns bounds roomState.recentTxns; when full it starts afresh
// (older retries are caught by the handler's lookup in the store).
const maxRecentTxns = 1024

// Proposal is the part of a new event that a caller chooses.
type Proposal struct {
	Type     string
	StateKey *string
	Sender   id.UserID
	Content  json.RawMessage
	// Redacts is the event an m.room.redaction redacts.
	Redacts id.EventID
	// TxnID, when set with DeviceID, records the client transaction ID so
	// that a retried send returns the same event.
	TxnID    string
	DeviceID id.DeviceID
}

type request struct {
	prop Proposal
	done chan result
}

type result struct {
	pdu *event.PDU
	pos int64
	err error
}

// Send builds, checks and persists one event in an existing room and
// returns it once it is committed. Concurrent sends into the same room are
// batched into one transaction.
func (s *Service) Send(ctx context.Context, roomID id.RoomID, p Proposal) (*event.PDU, int64, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return nil, 0, err
	}
	req := &request{prop: p, done: make(chan result, 1)}
	rs.pmu.Lock()
	rs.pending = append(rs.pending, req)
	rs.pmu.Unlock()

	// Whoever holds the room lock takes every pending request as one batch;
	// a request that a previous holder already took finds its result ready.
	rs.mu.Lock()
	rs.pmu.Lock()
	batch := rs.pending
	rs.pending = nil
	rs.pmu.Unlock()
	if len(batch) > 0 {
		// One client going away must not fail the others' events.
		s.processBatch(context.WithoutCancel(ctx), roomID, rs, batch)
	}
	rs.mu.Unlock()

	r := <-req.done
	return r.pdu, r.pos, r.err
}

// room returns the loaded head of roomID.
func (s *Service) room(ctx context.Context, roomID id.RoomID) (*roomState, error) {
	s.mu.Lock()
	rs, ok := s.rooms[roomID]
	if !ok {
		rs = &roomState{}
		s.rooms[roomID] = rs
	}
	s.mu.Unlock()
	if rs.loaded.Load() {
		return rs, nil
	}

	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.loaded.Load() {
		return rs, nil
	}
	if err := s.load(ctx, roomID, rs); err != nil {
		if errors.Is(err, ErrRoomNotFound) {
			// Forget the placeholder, so that requests naming rooms that
			// do not exist cannot grow the map.
			s.mu.Lock()
			if s.rooms[roomID] == rs {
				delete(s.rooms, roomID)
			}
			s.mu.Unlock()
		}
		return nil, err
	}
	rs.loaded.Store(true)
	return rs, nil
}

// load reads a room's head from the store. The caller holds rs.mu.
func (s *Service) load(ctx context.Context, roomID id.RoomID, rs *roomState) error {
	info, err := s.db.Room(ctx, roomID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrRoomNotFound
	}
	if err != nil {
		return fmt.Errorf("load room %s: %w", roomID, err)
	}
	v, ok := roomversion.Lookup(roomversion.ID(info.RoomVersion))
	if !ok {
		return fmt.Errorf("room %s has unsupported version %q", roomID, info.RoomVersion)
	}
	stored, err := s.db.CurrentStateEvents(ctx, roomID)
	if err != nil {
		return fmt.Errorf("load state of %s: %w", roomID, err)
	}
	rs.version = v
	rs.state = make(map[event.StateKey]*event.PDU, len(stored))
	rs.stateNIDs = make(map[event.StateKey]int64, len(stored))
	for _, se := range stored {
		pdu, err := event.ParseTrusted(se.JSON, v, se.EventID)
		if err != nil {
			return fmt.Errorf("parse stored state event %s: %w", se.EventID, err)
		}
		k := pdu.StateKeyTuple()
		rs.state[k] = pdu
		rs.stateNIDs[k] = se.NID
	}
	ext, err := s.db.Extremities(ctx, roomID)
	if err != nil {
		return fmt.Errorf("load extremities of %s: %w", roomID, err)
	}
	extEvents, err := s.db.EventsByID(ctx, ext)
	if err != nil {
		return fmt.Errorf("load extremities of %s: %w", roomID, err)
	}
	rs.extremities = nil
	for _, e := range extEvents {
		pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
		if err != nil {
			return fmt.Errorf("parse extremity %s: %w", e.EventID, err)
		}
		rs.extremities = append(rs.extremities, pdu)
		rs.depth = max(rs.depth, e.Depth)
	}
	rs.stateGroup = info.StateGroup
	return nil
}

// built is one event of a batch, accepted in memory, not yet committed.
type built struct {
	req *request
	pdu *event.PDU
	// group is the state group after the event; equal to the group before
	// for message events.
	stateKey *event.StateKey
}

// processBatch builds and checks each request in order against the room
// head as the earlier requests of the batch left it, persists the accepted
// ones in one transaction, then advances the head. The caller holds rs.mu.
func (s *Service) processBatch(ctx context.Context, roomID id.RoomID, rs *roomState, batch []*request) {
	head := newOverlay(rs)
	var accepted []built
	inBatch := map[txnKey]bool{}
	var retries []*request
	for _, req := range batch {
		key, hasTxn := req.prop.txnKey()
		if hasTxn {
			if pdu, ok := rs.recentTxns[key]; ok {
				req.done <- result{pdu: pdu}
				continue
			}
			if inBatch[key] {
				retries = append(retries, req)
				continue
			}
		}
		pdu, err := s.buildAndCheck(roomID, rs.version, head, req.prop)
		if err != nil {
			req.done <- result{err: err}
			continue
		}
		head.apply(pdu)
		b := built{req: req, pdu: pdu}
		if pdu.IsState() {
			k := pdu.StateKeyTuple()
			b.stateKey = &k
		}
		accepted = append(accepted, b)
		if hasTxn {
			inBatch[key] = true
		}
	}
	defer func() {
		// Retries within the batch get their original's outcome.
		for _, req := range retries {
			key, _ := req.prop.txnKey()
			if pdu, ok := rs.recentTxns[key]; ok {
				req.done <- result{pdu: pdu}
			} else {
				req.done <- result{err: fmt.Errorf("%w: the original of this transaction failed", ErrInvalidRequest)}
			}
		}
	}()
	if len(accepted) == 0 {
		return
	}
	pdus := make([]*event.PDU, len(accepted))
	txns := make([]Proposal, len(accepted))
	for i, b := range accepted {
		pdus[i], txns[i] = b.pdu, b.req.prop
	}
	out, err := s.persist(ctx, roomID, rs, pdus, txns, nil)
	for i, b := range accepted {
		if err != nil {
			b.req.done <- result{err: err}
			continue
		}
		b.req.done <- result{pdu: b.pdu, pos: out[i].StreamPos}
	}
	if err == nil {
		for _, b := range accepted {
			if key, ok := b.req.prop.txnKey(); ok {
				if rs.recentTxns == nil || len(rs.recentTxns) >= maxRecentTxns {
					rs.recentTxns = map[txnKey]*event.PDU{}
				}
				rs.recentTxns[key] = b.pdu
			}
		}
	}
}

// txnKey returns the client transaction of a proposal, if it has one.
func (p Proposal) txnKey() (txnKey, bool) {
	return txnKey{user: p.Sender, device: p.DeviceID, txn: p.TxnID}, p.TxnID != ""
}

// buildAndCheck turns a proposal into a signed event on top of head and
// checks it against the auth rules.
func (s *Service) buildAndCheck(roomID id.RoomID, v *roomversion.Version, head *overlay, p Proposal) (*event.PDU, error) {
	needed, err := authrules.NeededStateKeys(v, p.Type, p.StateKey, p.Sender, p.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	authState := authrules.StateMap{}
	var authIDs []id.EventID
	var refs []*event.PDU // events this one references, for v1/v2 hashes
	for _, k := range needed {
		ev := head.get(k)
		if ev == nil {
			continue
		}
		authState[k] = ev
		if k.Type == "m.room.create" && v.RoomIDFromCreateEvent {
			continue // v12: the create event is never listed in auth_events
		}
		authIDs = append(authIDs, ev.EventID())
		refs = append(refs, ev)
	}
	if create := head.get(event.StateKey{Type: "m.room.create"}); create != nil {
		authState[event.StateKey{Type: "m.room.create"}] = create
	}
	proto := event.Proto{
		Type:           p.Type,
		StateKey:       p.StateKey,
		Sender:         p.Sender,
		RoomID:         roomID,
		Content:        p.Content,
		PrevEvents:     head.extremityIDs(),
		AuthEvents:     authIDs,
		Depth:          head.depth + 1,
		OriginServerTS: s.now().UnixMilli(),
		Redacts:        p.Redacts,
	}
	if v.EventIDInEvent {
		// v1/v2: the server names the event, and references carry the
		// referenced events' reference hashes.
		eid, err := event.NewLegacyEventID(rand.Reader, s.serverName)
		if err != nil {
			return nil, fmt.Errorf("make event ID: %w", err)
		}
		proto.EventID = eid
		proto.RefHashes = map[id.EventID][]byte{}
		for _, ref := range append(refs, head.extremities...) {
			h, err := event.ReferenceHash(ref.JSON(), v)
			if err != nil {
				return nil, fmt.Errorf("reference hash of %s: %w", ref.EventID(), err)
			}
			proto.RefHashes[ref.EventID()] = h
		}
	}
	pdu, err := s.build(proto, v)
	if err != nil {
		return nil, err
	}
	if err := authrules.Check(pdu, authState); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForbidden, err)
	}
	return pdu, nil
}

// build signs a proto event, mapping build errors to the path's errors.
func (s *Service) build(p event.Proto, v *roomversion.Version) (*event.PDU, error) {
	pdu, err := event.Build(p, v, s.key)
	switch {
	case errors.Is(err, event.ErrTooLarge):
		return nil, fmt.Errorf("%w: %v", ErrEventTooLarge, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return pdu, nil
}

// notify publishes a committed batch. It runs on the store's writer
// goroutine (an after-commit hook), so it only records the batch and wakes
// the consumers, which do their work on their own goroutines.
func (s *Service) notify(evs []Persisted) { s.stream.Publish(evs) }

// randomLocalpart returns an opaque identifier part for room IDs of
// versions that have a server-chosen room ID.
func randomLocalpart() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 18)
	rand.Read(b) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
