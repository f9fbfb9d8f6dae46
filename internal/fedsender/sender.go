package fedsender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// Limits of one transaction (spec: Server-Server API § Transactions).
const (
	MaxPDUs = 50
	MaxEDUs = 100
)

// Defaults of Config.
const (
	DefaultMaxBackoff    = 10 * time.Minute
	DefaultFirstBackoff  = 2 * time.Second
	DefaultProbeInterval = time.Second
	DefaultProbeFor      = 24 * time.Hour
)

// stageShareDelay is how long the queue entries of a batch of events wait
// for another write to commit with when the writer is idle: on a busy
// server they ride in the commit of the next local sends instead of
// adding one of their own after each batch.
const stageShareDelay = 4 * time.Millisecond

// ConsumerName is the name under which the sender stores its stream
// position.
const ConsumerName = "federation_sender"

// Transport sends requests to other servers (*federation.Client).
type Transport interface {
	Do(ctx context.Context, req federation.Request) ([]byte, error)
}

var _ Transport = (*federation.Client)(nil)

// Config holds a Sender's dependencies and settings.
type Config struct {
	DB         *store.DB
	Stream     *stream.Stream
	Client     Transport
	ServerName id.ServerName
	// From is where the sender starts when it has no stored position yet:
	// it sends the events after From (the stream position at startup, so
	// a server that had no sender does not send its history).
	From int64
	// FirstBackoff is the pause after the first failure, doubled after
	// each further one up to MaxBackoff; DefaultFirstBackoff and
	// DefaultMaxBackoff when 0.
	FirstBackoff time.Duration
	MaxBackoff   time.Duration
	Logger       *slog.Logger
	// DeviceLists builds the EDUs of local users' device list changes;
	// nil announces none.
	DeviceLists DeviceListEDUs
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// ProbeInterval is how often a destination in backoff is probed with
	// a cheap request (GET /_matrix/federation/v1/version) while its
	// backoff lasts longer; one that answers is retried at once, so a
	// server that comes back is caught up within about this time even if
	// it does not contact us. DefaultProbeInterval when 0; negative
	// probes never (only contacts and the backoff retry).
	ProbeInterval time.Duration
	// ProbeFor is how long after its first failure in a row a destination
	// is probed; after that only its backoff and its contacts retry it,
	// so servers gone for good are not probed forever.
	// DefaultProbeFor when 0.
	ProbeFor time.Duration
	// After returns a channel that receives once d has passed (the
	// sender's timers); time.After when nil. Tests pass a fake clock.
	After func(d time.Duration) <-chan time.Time
}

// Sender sends the events of this server's users to the other servers in
// their rooms. Start runs it, Stop stops it.
type Sender struct {
	cfg      Config
	consumer *stream.Consumer
	members  *memberCache

	// mu guards dests, each destination's pending and down flags, and
	// the ephemeral EDUs waiting (LOCKS.md).
	mu        sync.Mutex
	dests     map[id.ServerName]*destination
	ephemeral map[id.ServerName]map[ephemeralKey]ephemeralEDU
	// ephemeralSeq orders the ephemeral EDUs.
	ephemeralSeq uint64
	// runCtx ends the destination goroutines; wg waits for them.
	runCtx  context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped bool
	// devicePoke wakes the goroutine announcing device list changes.
	devicePoke chan struct{}
}

// destination is the in-memory state of a destination whose queue is not
// empty; its goroutine owns failures and nextRetry.
type destination struct {
	name id.ServerName
	// pending is set (under Sender.mu) when entries were queued since the
	// goroutine last looked at the queue.
	pending bool
	// down is set (under Sender.mu) while the destination is in backoff.
	down bool
	// flightTxn is the ID of the transaction in flight that carries
	// flightEphemeral, the ephemeral EDUs (kept in memory only) it was
	// started with, so that a retry sends them again.
	flightTxn       string
	flightEphemeral []json.RawMessage
	// next is the transaction claimed when the last one was delivered,
	// sent next; only the goroutine uses it.
	next *flight
	// poke wakes a goroutine waiting out its backoff: the destination
	// contacted us.
	poke      chan struct{}
	failures  int
	nextRetry time.Time
	// failingSince is when the failures in a row began (zero when none;
	// the sender's start for failures from before it).
	failingSince time.Time
}

// New returns a Sender; it does nothing until Start.
func New(cfg Config) (*Sender, error) {
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.FirstBackoff == 0 {
		cfg.FirstBackoff = DefaultFirstBackoff
	}
	if cfg.FirstBackoff < 0 || cfg.MaxBackoff < cfg.FirstBackoff {
		return nil, fmt.Errorf("federation sender: backoff from %s to %s is not a range", cfg.FirstBackoff, cfg.MaxBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.ProbeFor == 0 {
		cfg.ProbeFor = DefaultProbeFor
	}
	s := &Sender{cfg: cfg, dests: map[id.ServerName]*destination{}, ephemeral: map[id.ServerName]map[ephemeralKey]ephemeralEDU{},
		devicePoke: make(chan struct{}, 1), members: newMemberCache(cfg.DB, cfg.ServerName)}
	s.consumer = stream.NewConsumer(stream.ConsumerConfig{
		Name: ConsumerName, Stream: cfg.Stream, DB: cfg.DB, Positions: cfg.DB,
		Stage: s.stage, From: cfg.From, Logger: cfg.Logger, ShareDelay: stageShareDelay,
	})
	return s, nil
}

// Start starts a goroutine for every destination with queued entries (in
// the backoff it was in) and the stream consumer. Call it once.
func (s *Sender) Start(ctx context.Context) error {
	dests, err := s.cfg.DB.Destinations(ctx, true)
	if err != nil {
		return fmt.Errorf("start federation sender: %w", err)
	}
	// The goroutines outlive the caller's request; Stop ends them.
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	for _, d := range dests {
		var next time.Time
		if d.NextRetryTS > 0 {
			next = time.UnixMilli(d.NextRetryTS)
		}
		s.startLocked(d.Name, d.Failures, next)
	}
	s.mu.Unlock()
	if err := s.consumer.Start(ctx); err != nil {
		s.Stop()
		return fmt.Errorf("start federation sender: %w", err)
	}
	if s.cfg.DeviceLists != nil {
		pos, err := s.deviceListStart(ctx)
		if err != nil {
			s.Stop()
			return fmt.Errorf("start federation sender: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runDeviceLists(s.runCtx, pos)
		}()
	}
	return nil
}

// Stop stops the consumer and every destination goroutine and waits for
// them. A transaction in flight is abandoned; it is sent again, under the
// same ID, after the next Start.
func (s *Sender) Stop() {
	s.consumer.Stop()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Position returns the stream position up to which every committed event
// has been queued.
func (s *Sender) Position() int64 { return s.consumer.Position() }

// Contacted tells the sender that server made an authenticated request:
// it is up, so if entries wait for it in backoff, they are sent at once.
// It only looks at memory and never blocks.
func (s *Sender) Contacted(server id.ServerName) {
	s.mu.Lock()
	d := s.dests[server]
	s.mu.Unlock()
	if d == nil {
		return
	}
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// wake makes the destinations' goroutines look at their queues, starting
// them where none runs.
func (s *Sender) wake(dests []id.ServerName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range dests {
		if d := s.dests[name]; d != nil {
			d.pending = true
			continue
		}
		s.startLocked(name, 0, time.Time{})
	}
}

// startLocked starts the goroutine of a destination, in the backoff
// state given; the caller holds s.mu. After Stop it starts none: the
// entries wait in the database.
func (s *Sender) startLocked(name id.ServerName, failures int, nextRetry time.Time) {
	d := &destination{name: name, poke: make(chan struct{}, 1), failures: failures, nextRetry: nextRetry}
	if failures > 0 {
		d.failingSince = s.cfg.Now()
	}
	if s.stopped || s.runCtx == nil {
		return
	}
	s.dests[name] = d
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(s.runCtx, d)
	}()
}

// stage finds the destinations of a batch of committed events and returns
// the writes that queue them, committed with the consumer's position.
func (s *Sender) stage(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
	entries, err := s.queueEntries(ctx, evs)
	if err != nil || len(entries) == 0 {
		return nil, nil, err
	}
	var names []id.ServerName
	seen := map[id.ServerName]bool{}
	for _, e := range entries {
		if !seen[e.Destination] {
			seen[e.Destination] = true
			names = append(names, e.Destination)
		}
	}
	write := func(tx *store.Tx) error { return tx.EnqueuePDUs(ctx, entries) }
	return write, func() { s.wake(names) }, nil
}

// isCanceled reports whether err comes from a context that ended.
func isCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled)
}
