package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// Persisted is an event the event path has committed, with its position in
// the server's event stream.
type Persisted = stream.Event

// Service is the event path: local events enter rooms through Send,
// ChangeMembership and CreateRoom, events of other servers through
// ProcessRemote. It is safe for concurrent use. Close stops its janitor.
type Service struct {
	db          *store.DB
	serverName  id.ServerName
	key         signing.Key
	keys        signing.KeyLookup
	inviter     RemoteInviter
	log         *slog.Logger
	now         func() time.Time
	idleTimeout time.Duration

	mu    sync.Mutex
	rooms map[id.RoomID]*roomState
	// stream receives every committed batch, in commit order, from the
	// store's after-commit hook.
	stream *stream.Stream

	stop        chan struct{}
	janitorDone chan struct{}
	closeOnce   sync.Once

	// beforePersist, when set (by tests), runs before each attempt to
	// persist a batch, with the attempt's number (1 for the first), while
	// the caller holds the room lock and no write transaction.
	beforePersist func(roomID id.RoomID, attempt int)
}

// Config holds a Service's dependencies.
type Config struct {
	DB         *store.DB
	ServerName id.ServerName
	Key        signing.Key
	// RemoteKeys returns the verify keys of other servers, for the
	// signatures of events that arrive from them (ProcessRemote). The
	// server's own key is always known. Nil knows no other server.
	RemoteKeys signing.KeyLookup
	Logger     *slog.Logger
	// Stream is where committed events are published for their
	// consumers (sync, and later federation and push); nil gives the
	// Service a stream of its own starting at position 0.
	Stream *stream.Stream
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// IdleTimeout is how long a room's head stays in memory without being
	// used; a minute when 0.
	IdleTimeout time.Duration
	// Inviter has invites of other servers' users signed by their
	// servers; nil refuses such invites.
	Inviter RemoteInviter
}

// New returns a Service and starts its janitor, which drops the heads of
// idle rooms and the expired transactions of the others. It runs at least
// every txnRetryWindow, so a head that is not used again forgets its
// transactions soon after the window. Call Close when done.
func New(cfg Config) *Service {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	idle := cfg.IdleTimeout
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	st := cfg.Stream
	if st == nil {
		st = stream.New(0, 0)
	}
	s := &Service{
		stream:      st,
		db:          cfg.DB,
		serverName:  cfg.ServerName,
		key:         cfg.Key,
		inviter:     cfg.Inviter,
		log:         cfg.Logger,
		now:         now,
		idleTimeout: idle,
		rooms:       map[id.RoomID]*roomState{},
		stop:        make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	s.keys = s.verifyKeys(cfg.RemoteKeys)
	go s.janitor(max(min(idle/4, txnRetryWindow), time.Second))
	return s
}

// Close stops the janitor. Requests in flight finish; the Service must not
// be used afterwards.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.janitorDone
	})
}

// verifyKeys returns a key lookup that knows this server's own key and asks
// remote for every other.
func (s *Service) verifyKeys(remote signing.KeyLookup) signing.KeyLookup {
	// The server's own key is valid as long as the server uses it.
	own := signing.VerifyKey{Public: s.key.Public(), ValidUntilTS: math.MaxInt64}
	return func(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
		if server == s.serverName && keyID == s.key.KeyID {
			return own, true
		}
		if remote == nil {
			return signing.VerifyKey{}, false
		}
		return remote(server, keyID)
	}
}

// Stream returns the stream the Service publishes committed events to.
func (s *Service) Stream() *stream.Stream { return s.stream }

// txnKey identifies a client transaction: the device, the endpoint and
// path it was made on (see Proposal.TxnScope) and the transaction ID.
type txnKey struct {
	user   id.UserID
	device id.DeviceID
	scope  string
	txn    string
}

// Proposal is the part of a new event that a caller chooses.
type Proposal struct {
	Type     string
	StateKey *string
	Sender   id.UserID
	Content  json.RawMessage
	// Redacts is the event an m.room.redaction redacts.
	Redacts id.EventID
	// TxnID, when set with DeviceID, records the client transaction ID so
	// that a retried send returns the same event. TxnScope names the
	// endpoint and path the transaction was made on (for example
	// "send:{roomId}:{eventType}"): the same TxnID in another scope is
	// another transaction.
	TxnID    string
	TxnScope string
	DeviceID id.DeviceID
	// Require, when set, is checked against the room's state right before
	// the event is built, under the room lock: an error refuses the event
	// and nothing is written. It must only read the state it is given.
	Require func(state func(typ, stateKey string) *event.PDU) error
}

// request is one event waiting for its room's next batch: a local
// proposal, or an event of another server (remote set).
type request struct {
	prop   Proposal
	remote *remoteEvent
	done   chan result
}

type result struct {
	pdu     *event.PDU
	pos     int64
	verdict pducheck.Verdict
	err     error
}

// Send builds, checks and persists one event in an existing room and
// returns it once it is committed. Concurrent sends into the same room are
// batched into one transaction. An m.room.create event is refused with
// ErrForbidden: only a room's first event may be one (auth rule 1), and
// from room version 12 on it could not even be built with a room ID.
func (s *Service) Send(ctx context.Context, roomID id.RoomID, p Proposal) (*event.PDU, int64, error) {
	if p.Type == "m.room.create" {
		return nil, 0, fmt.Errorf("%w: m.room.create can only be the first event of a room", ErrForbidden)
	}
	req := &request{prop: p, done: make(chan result, 1)}
	if err := s.submit(ctx, roomID, req); err != nil {
		return nil, 0, err
	}
	r := <-req.done
	return r.pdu, r.pos, r.err
}

// submit queues requests on their room and makes sure a batch takes them:
// whoever holds the room lock takes every pending request as one batch, so
// a request that a previous holder already took finds its result ready.
// Every request gets exactly one result on its done channel unless submit
// returns an error.
func (s *Service) submit(ctx context.Context, roomID id.RoomID, reqs ...*request) error {
	for {
		rs, err := s.room(ctx, roomID)
		if err != nil {
			return err
		}
		rs.pmu.Lock()
		if rs.evicted {
			// Dropped by the janitor since the lookup: look again.
			rs.pmu.Unlock()
			continue
		}
		rs.pending = append(rs.pending, reqs...)
		rs.wakeGatherer()
		rs.pmu.Unlock()

		rs.mu.Lock()
		rs.gather()
		rs.pmu.Lock()
		batch := rs.pending
		rs.pending = nil
		rs.pmu.Unlock()
		if len(batch) > 0 {
			// One client going away must not fail the others' events.
			s.processBatch(context.WithoutCancel(ctx), roomID, rs, batch)
		}
		rs.mu.Unlock()
		return nil
	}
}

// txnKey returns the client transaction of a proposal, if it has one.
func (p Proposal) txnKey() (txnKey, bool) {
	return txnKey{user: p.Sender, device: p.DeviceID, scope: p.TxnScope, txn: p.TxnID}, p.TxnID != ""
}

// buildAndCheck turns a proposal into a signed event with the given
// prev_events, on top of the state before it, and checks it against the
// auth rules.
func (s *Service) buildAndCheck(roomID id.RoomID, v *roomversion.Version, before stateReader, prevs []*event.PDU, p Proposal) (*event.PDU, error) {
	if p.Require != nil {
		get := func(typ, stateKey string) *event.PDU {
			return before.get(event.StateKey{Type: typ, StateKey: stateKey})
		}
		if err := p.Require(get); err != nil {
			return nil, err
		}
	}
	needed, err := authrules.NeededStateKeys(v, p.Type, p.StateKey, p.Sender, p.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	authState := authrules.StateMap{}
	var authIDs []id.EventID
	var refs []*event.PDU // events this one references, for v1/v2 hashes
	for _, k := range needed {
		ev := before.get(k)
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
	if create := before.get(event.StateKey{Type: "m.room.create"}); create != nil {
		authState[event.StateKey{Type: "m.room.create"}] = create
	}
	prevIDs := make([]id.EventID, len(prevs))
	for i, e := range prevs {
		prevIDs[i] = e.EventID()
	}
	proto := event.Proto{
		Type:           p.Type,
		StateKey:       p.StateKey,
		Sender:         p.Sender,
		RoomID:         roomID,
		Content:        p.Content,
		PrevEvents:     prevIDs,
		AuthEvents:     authIDs,
		Depth:          depthAfter(prevs),
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
		for _, ref := range append(refs, prevs...) {
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
// versions that have a server-chosen room ID: 26 letters and digits, 130
// random bits.
func randomLocalpart() string { return rand.Text() }
