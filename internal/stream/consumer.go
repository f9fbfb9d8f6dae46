package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/store"
)

// DefaultBatch is the number of events a consumer reads from the store at
// once.
const DefaultBatch = 512

// DefaultRetryDelay is the pause before a consumer retries a batch that
// failed.
const DefaultRetryDelay = time.Second

// Handler handles a batch of committed events, oldest first. The slice and
// its events are shared with other consumers and must not be changed. An
// error makes the consumer retry the same batch after a pause.
type Handler func(ctx context.Context, evs []Event) error

// Stager prepares a batch of committed events, oldest first, for a durable
// consumer whose output is rows in the database: it returns the writes to
// commit in the same transaction as the consumer's new position (nil for
// none), so that the output and the position are stored together or not
// at all, and a function to run once they committed (nil for none). The
// events must not be changed. An error makes the consumer retry the same
// batch after a pause. A batch with nothing to write (both nil) does not
// store the position at once: it is stored every Batch such events and at
// Stop, so after a crash up to Batch events are staged again, and staging
// must be deterministic for them to write nothing again.
type Stager func(ctx context.Context, evs []Event) (write func(tx *store.Tx) error, committed func(), err error)

// ConsumerConfig holds a Consumer's dependencies.
type ConsumerConfig struct {
	// Name identifies a durable consumer's stored position; it must be
	// unique among the server's consumers.
	Name   string
	Stream *Stream
	DB     Reader
	// Handle handles each batch; Stage replaces it for a consumer whose
	// output goes to the database (Positions is then required).
	Handle Handler
	Stage  Stager
	// Positions, when set, makes the consumer durable: it stores its
	// position there after every batch and resumes from it when started.
	Positions Positions
	// From is where a consumer without a stored position starts: it
	// handles the events after From. Sync passes the stream position it
	// loaded its state at.
	From int64
	// Batch is the number of events read from the store at once; 0 means
	// DefaultBatch.
	Batch int
	// RetryDelay is the pause before a failed read or batch is tried
	// again; 0 means DefaultRetryDelay.
	RetryDelay time.Duration
	// Linger, when set, makes the consumer wait that long after the
	// stream moved before it reads, unless about Batch events are
	// waiting or Flush is called: a consumer that pays a transaction per
	// batch then handles events sent one at a time in batches too.
	Linger time.Duration
	// ShareDelay, when set, lets a staging consumer's write wait up to
	// that long for other writes to share its transaction when the
	// writer is idle (store.DB.WriteSoon), so that a consumer writing
	// after every batch of a busy server does not add a commit of its
	// own to each; its output is that much later when the server is idle.
	// Positions must then implement SoonWriter.
	ShareDelay time.Duration
	Logger     *slog.Logger
}

// SoonWriter is a Positions whose writes may wait for company
// (*store.DB).
type SoonWriter interface {
	WriteSoon(ctx context.Context, delay time.Duration, fn func(tx *store.Tx) error) error
}

var _ SoonWriter = (*store.DB)(nil)

// Consumer reads the committed event stream in order on its own goroutine
// and hands it to its Handler. Start runs it; Stop stops it and waits.
type Consumer struct {
	cfg ConsumerConfig

	mu sync.Mutex
	// pos is the position up to which every event has been handled.
	pos     int64
	changed chan struct{}
	// flush ends a linger early (see Flush).
	flush  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	// unsaved counts the events a staging consumer handled, with nothing
	// to write, since it last stored its position; lazyPos is where they
	// end. Only the consumer's goroutine (and Stop, after it ended) uses
	// them.
	unsaved int
	lazyPos int64
}

// NewConsumer returns a consumer; it does nothing until Start.
func NewConsumer(cfg ConsumerConfig) *Consumer {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Consumer{cfg: cfg, pos: cfg.From, changed: make(chan struct{}), flush: make(chan struct{}, 1)}
}

// Start loads a durable consumer's position and starts its goroutine,
// which runs until Stop. Call it once.
func (c *Consumer) Start(ctx context.Context) error {
	if c.cfg.Stage != nil && c.cfg.Positions == nil {
		return fmt.Errorf("start consumer %s: a staging consumer needs Positions", c.cfg.Name)
	}
	if c.cfg.Positions != nil {
		pos, ok, err := c.cfg.Positions.ConsumerPosition(ctx, c.cfg.Name)
		if err != nil {
			return fmt.Errorf("start consumer %s: %w", c.cfg.Name, err)
		}
		if ok {
			c.mu.Lock()
			c.pos = pos
			c.mu.Unlock()
		}
	}
	// The goroutine outlives the caller's request; Stop ends it.
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		c.run(runCtx)
	}()
	return nil
}

// Stop stops the consumer's goroutine and waits for it to end (the
// handler sees its ctx done). A batch being handled is abandoned; a durable consumer sees it again after the
// next Start.
func (c *Consumer) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
	if c.unsaved > 0 {
		// The position of the batches that wrote nothing; the store is
		// still open (consumers stop before it closes).
		ctx, cancel := context.WithTimeout(context.Background(), stopSaveTimeout)
		defer cancel()
		err := c.cfg.Positions.Write(ctx, func(tx *store.Tx) error {
			return tx.SetConsumerPosition(ctx, c.cfg.Name, c.lazyPos)
		})
		if err != nil {
			c.cfg.Logger.Warn("store consumer position at stop", "consumer", c.cfg.Name, "err", err)
		}
		c.unsaved = 0
	}
}

// stopSaveTimeout bounds the write of a staging consumer's position at
// Stop.
const stopSaveTimeout = 5 * time.Second

// Position returns the position up to which every event has been handled.
func (c *Consumer) Position() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// WaitFor blocks until the consumer has handled every event up to pos, or
// ctx is done.
func (c *Consumer) WaitFor(ctx context.Context, pos int64) error {
	for {
		c.mu.Lock()
		cur, ch := c.pos, c.changed
		c.mu.Unlock()
		if cur >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush makes a lingering consumer read what is published now, without
// waiting for the rest of its Linger (the next linger, if it is not
// lingering).
func (c *Consumer) Flush() {
	select {
	case c.flush <- struct{}{}:
	default:
	}
}

// linger waits as ConsumerConfig.Linger says; false means ctx is done.
func (c *Consumer) linger(ctx context.Context) bool {
	t := time.NewTimer(c.cfg.Linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.flush:
	case <-ctx.Done():
		return false
	}
	return true
}

func (c *Consumer) run(ctx context.Context) {
	pos := c.Position()
	for {
		published := c.cfg.Stream.Wait(ctx, pos)
		if ctx.Err() != nil {
			return
		}
		if c.cfg.Linger > 0 && published-pos < int64(c.cfg.Batch) {
			if !c.linger(ctx) {
				return
			}
			published = c.cfg.Stream.Position()
		}
		evs, upto, ok := c.cfg.Stream.recent(pos, c.cfg.Batch)
		if !ok {
			var err error
			if evs, err = readStore(ctx, c.cfg.DB, pos, published, c.cfg.Batch); err != nil {
				if !c.pause(ctx, "read", err) {
					return
				}
				continue
			}
			upto = published
			if len(evs) == c.cfg.Batch {
				upto = evs[len(evs)-1].StreamPos // more to read
			}
		}
		if !c.deliver(ctx, evs, upto) {
			return
		}
		pos = upto
		c.mu.Lock()
		c.pos = pos
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// deliver hands a batch to the handler until it succeeds, and stores a
// durable consumer's new position; it returns false when ctx is done.
func (c *Consumer) deliver(ctx context.Context, evs []Event, upto int64) bool {
	for {
		err := error(nil)
		if len(evs) > 0 && c.cfg.Stage != nil {
			err = c.stage(ctx, evs, upto)
			if err == nil {
				return true
			}
		} else if len(evs) > 0 {
			err = c.cfg.Handle(ctx, evs)
		}
		if err == nil && c.cfg.Positions != nil && len(evs) > 0 {
			err = c.cfg.Positions.Write(ctx, func(tx *store.Tx) error {
				return tx.SetConsumerPosition(ctx, c.cfg.Name, upto)
			})
		}
		if err == nil {
			return true
		}
		if !c.pause(ctx, "handle", err) {
			return false
		}
	}
}

// stage prepares a batch with the Stager and commits its writes with the
// consumer's new position in one transaction.
func (c *Consumer) stage(ctx context.Context, evs []Event, upto int64) error {
	write, committed, err := c.cfg.Stage(ctx, evs)
	if err != nil {
		return err
	}
	if write == nil && committed == nil {
		// Nothing to write: the position is stored only every Batch
		// events (and at Stop), so a consumer with nothing to do costs no
		// transaction per batch. After a crash it stages up to Batch
		// events again, which write nothing again.
		c.unsaved += len(evs)
		c.lazyPos = upto
		if c.unsaved < c.cfg.Batch {
			return nil
		}
	}
	fn := func(tx *store.Tx) error {
		if write != nil {
			if err := write(tx); err != nil {
				return err
			}
		}
		return tx.SetConsumerPosition(ctx, c.cfg.Name, upto)
	}
	if sw, ok := c.cfg.Positions.(SoonWriter); ok && c.cfg.ShareDelay > 0 {
		err = sw.WriteSoon(ctx, c.cfg.ShareDelay, fn)
	} else {
		err = c.cfg.Positions.Write(ctx, fn)
	}
	if err != nil {
		return err
	}
	c.unsaved = 0
	if committed != nil {
		committed()
	}
	return nil
}

// pause logs a failed step and waits before the retry; false means ctx is
// done.
func (c *Consumer) pause(ctx context.Context, step string, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	c.cfg.Logger.Error("stream consumer failed", "consumer", c.cfg.Name, "step", step, "err", err)
	t := time.NewTimer(c.cfg.RetryDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
