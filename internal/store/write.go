package store

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// maxBatchJobs is the most write functions one transaction runs. Larger
// batches commit less often under load but make every caller in the batch
// wait for the slowest function.
const maxBatchJobs = 64

// Tx is a write function's view of the writer's transaction. Its read
// methods see the transaction's uncommitted writes. A Tx is valid only
// until the function it was passed to returns, and must not be used from
// other goroutines.
type Tx struct {
	reader
	w             writeTx
	maxStateDelta int
	// afterCommit holds the functions registered by AfterCommit.
	afterCommit []func()
}

// AfterCommit registers fn to run once the transaction has committed, and
// not at all if the write function's writes are rolled back. The writer
// runs such functions (on the goroutine running the batch: the writer
// goroutine, or the caller that found the writer idle), one batch after
// another, in commit order across all callers, before Write returns to the
// caller that registered them: this is how committed events reach
// listeners in stream order. fn must be quick and must not call Write.
func (t *Tx) AfterCommit(fn func()) { t.afterCommit = append(t.afterCommit, fn) }

// Write runs fn in the writer's transaction and returns once that
// transaction has committed (nil) or fn's writes have been rolled back (an
// error). fn runs in the writer, together with the functions of other
// callers: it must not call Write itself (that would deadlock), and it
// should only touch the database, since every caller in its batch waits
// for it. If fn returns an error, its writes are rolled back and Write
// returns that error; the other functions of the batch still commit.
//
// When no batch is running, the caller runs its batch on its own goroutine
// and hands the writer on to the writer goroutine only if more writes
// queued meanwhile; an uncontended write thus costs no goroutine switch.
//
// If ctx is done before fn starts, fn never runs and Write returns
// ctx.Err(). Once fn has started, Write waits for the outcome of the batch,
// so that a nil result always means committed. Inside fn, Tx methods stop
// at the next statement when their ctx is done, but never interrupt a
// running statement.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	return db.write(ctx, fn, 0)
}

// write queues fn for the writer; a positive delay lets it wait that long
// for company when the writer is idle (WriteSoon).
func (db *DB) write(ctx context.Context, fn func(tx *Tx) error, delay time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &writeJob{fn: fn, done: make(chan error, 1), delay: delay}
	batch, err := db.w.enqueue(j)
	if err != nil {
		return err
	}
	if batch != nil {
		db.w.runInline(batch)
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		// The writer has taken the job; its outcome is the truth.
		return <-j.done
	}
}

// WriteSoon is Write for a write that need not commit at once: when the
// writer is idle, fn waits up to delay for another write to share its
// transaction (and its fsync) before it commits alone. A write that
// follows every commit of a busy server (a stream consumer's output) thus
// rides in the next one instead of adding one of its own. While a batch
// runs or other writes wait, fn is queued as Write queues it.
func (db *DB) WriteSoon(ctx context.Context, delay time.Duration, fn func(tx *Tx) error) error {
	return db.write(ctx, fn, delay)
}

// QueuedWrites returns the number of write functions waiting for the
// writer.
func (db *DB) QueuedWrites() int { return db.w.queued() }

// WriteJobs returns the number of write functions the writer has run
// since the DB was opened, committed or not: a measure of how much of the
// single writer's time a component takes.
func (db *DB) WriteJobs() int64 { return db.w.jobs.Load() }

const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

type writeJob struct {
	fn func(tx *Tx) error
	// delay is how long the job may wait for others when the writer is
	// idle (WriteSoon); 0 runs it at once.
	delay time.Duration
	state atomic.Int32
	done  chan error // buffered: the writer never blocks on delivery
}

// writer runs all writes of a DB, one batch of up to maxBatchJobs jobs per
// transaction at a time. Running batches is a role: the caller of Write
// that finds no batch running takes it and runs one batch on its own
// goroutine; if jobs queued up meanwhile, it hands the role to the writer
// goroutine, which runs batches until the queue is empty. The writer
// goroutine is owned by the DB: started in Open, stopped in Close.
//
// One writer per process serializes all writes, which SQLite requires
// anyway. On PostgreSQL, scaling out will shard writers by room, each with
// its own queue; nothing in the schema assumes a single writer (see
// streams.go).
type writer struct {
	db *DB

	mu     sync.Mutex // guards queue, closed and active
	queue  []*writeJob
	closed bool
	// active is set while a goroutine holds the role of running batches.
	active bool
	// soonArmed is set while a timer will start a batch for the jobs of
	// WriteSoon waiting with no batch running.
	soonArmed bool

	// wake hands the role to the writer goroutine (capacity 1; only the
	// holder of the role sends, so a send never blocks).
	wake    chan struct{}
	stopped chan struct{}

	batches atomic.Int64 // transactions committed or attempted
	jobs    atomic.Int64 // jobs run
}

func startWriter(db *DB) *writer {
	w := &writer{
		db:      db,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// enqueue queues j. If no batch is running, the caller takes the role and
// gets the batch to run (see runInline); otherwise the batch is nil and the
// role's holder will run j.
func (w *writer) enqueue(j *writeJob) ([]*writeJob, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	w.queue = append(w.queue, j)
	if w.active {
		return nil, nil
	}
	if w.parkLocked() {
		return nil, nil
	}
	w.active = true
	return w.take(), nil
}

// parkLocked reports whether every queued job came from WriteSoon, and if
// so makes them wait for company: the next write that finds the writer
// idle takes them into its batch, or a timer starts a batch for them once
// the first one's delay has passed. The caller holds mu.
func (w *writer) parkLocked() bool {
	if w.closed || len(w.queue) == 0 {
		return false
	}
	for _, j := range w.queue {
		if j.delay <= 0 {
			return false
		}
	}
	if !w.soonArmed {
		w.soonArmed = true
		time.AfterFunc(w.queue[0].delay, w.soonDue)
	}
	return true
}

// soonDue runs when a job of WriteSoon has waited its delay: if no batch
// runs and jobs still wait, it takes the role and runs them, as a caller
// of Write that found the writer idle would.
func (w *writer) soonDue() {
	w.mu.Lock()
	w.soonArmed = false
	if w.active || w.closed || len(w.queue) == 0 {
		w.mu.Unlock()
		return
	}
	w.active = true
	batch := w.take()
	w.mu.Unlock()
	w.runInline(batch)
}

// runInline runs a batch on the caller's goroutine, which holds the role,
// then hands the role on: to the writer goroutine if jobs are waiting or
// the writer is closing, to nobody otherwise.
func (w *writer) runInline(batch []*writeJob) {
	w.runBatch(batch)
	w.db.b.writeStmts.preparePending()
	w.mu.Lock()
	handOver := len(w.queue) > 0 && !w.parkLocked() || w.closed
	if !handOver {
		w.active = false
	}
	w.mu.Unlock()
	if handOver {
		w.wake <- struct{}{}
	}
}

// queued returns the number of jobs waiting for the writer.
func (w *writer) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// stop makes the writer run what is queued, then exit, and waits for it.
func (w *writer) stop() {
	w.mu.Lock()
	w.closed = true
	idle := !w.active
	w.active = true
	w.mu.Unlock()
	if idle {
		w.wake <- struct{}{}
	}
	// Otherwise the role's holder hands it to the writer goroutine, which
	// sees closed.
	<-w.stopped
}

// run is the writer goroutine: each time it is handed the role, it runs
// batches until the queue is empty, then gives the role up, or exits once
// the writer is closed.
func (w *writer) run() {
	defer close(w.stopped)
	for range w.wake {
		for {
			batch, exit := w.next()
			if batch == nil {
				if exit {
					return
				}
				break
			}
			w.runBatch(batch)
			w.db.b.writeStmts.preparePending()
		}
	}
}

// next takes the next batch for the holder of the role. With the queue
// empty it returns nil and gives up the role, or reports exit once the
// writer is closed.
func (w *writer) next() (batch []*writeJob, exit bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) > 0 && !w.parkLocked() {
		return w.take(), false
	}
	if w.closed {
		return nil, true
	}
	w.active = false
	return nil, false
}

// take removes up to maxBatchJobs jobs from the queue. The caller holds mu.
func (w *writer) take() []*writeJob {
	n := min(len(w.queue), maxBatchJobs)
	batch := make([]*writeJob, n)
	copy(batch, w.queue)
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	return batch
}

// runBatch runs the jobs in one transaction, each under a savepoint, and
// delivers every job's result after the commit.
func (w *writer) runBatch(batch []*writeJob) {
	live := batch[:0]
	for _, j := range batch {
		if j.state.CompareAndSwap(jobQueued, jobRunning) {
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return
	}
	w.batches.Add(1)
	w.jobs.Add(int64(len(live)))

	// A batch carries the jobs of many callers, whichever goroutine runs
	// it: its own statements are not tied to any caller's context, so no
	// caller can abort a shared transaction.
	ctx := context.Background()
	results := make([]error, len(live))
	deliver := func(batchErr error) {
		for i, j := range live {
			if results[i] == nil {
				results[i] = batchErr
			}
			j.done <- results[i]
		}
	}

	tx, err := w.db.b.beginWrite(ctx)
	if err != nil {
		deliver(fmt.Errorf("begin write transaction: %w", err))
		return
	}
	abort := func(err error) {
		// The transaction is unusable; nothing in it commits.
		tx.rollback()
		deliver(err)
	}
	t := &Tx{reader: reader{q: tx, d: w.db.b.d}, w: tx, maxStateDelta: w.db.maxStateDelta}
	if len(live) == 1 {
		// A lone job needs no savepoint: if it fails, the whole transaction
		// is rolled back. This saves round trips when the server is not
		// busy, which matters most on PostgreSQL.
		if jerr := w.runJob(t, live[0]); jerr != nil {
			results[0] = jerr
			tx.rollback() // the job's error is the result either way
			deliver(nil)
			return
		}
		// On PostgreSQL the job's queued statements travel with the
		// COMMIT, so their errors are reported here.
		if err := tx.commit(ctx); err != nil {
			abort(fmt.Errorf("commit write: %w", err))
			return
		}
		w.runAfterCommit(t.afterCommit)
		deliver(nil)
		return
	}
	for i, j := range live {
		if err := tx.savepoint(ctx); err != nil {
			abort(err)
			return
		}
		hooks := len(t.afterCommit)
		jerr := w.runJob(t, j)
		if jerr == nil {
			// Sends the job's queued statements: their errors are the
			// job's.
			jerr = tx.releaseSavepoint(ctx)
		}
		if jerr != nil {
			results[i] = jerr
			t.afterCommit = t.afterCommit[:hooks] // rolled back: nothing to run
			if err := tx.rollbackToSavepoint(ctx); err != nil {
				abort(fmt.Errorf("roll back failed write (%v): %w", jerr, err))
				return
			}
		}
	}
	if err := tx.commit(ctx); err != nil {
		abort(fmt.Errorf("commit write batch: %w", err))
		return
	}
	w.runAfterCommit(t.afterCommit)
	deliver(nil)
}

// runAfterCommit runs the functions registered with Tx.AfterCommit, in
// order. A panicking function is logged and skipped: it must not stop the
// writer, and its writes are committed already.
func (w *writer) runAfterCommit(fns []func()) {
	for _, fn := range fns {
		func() {
			defer func() {
				if r := recover(); r != nil {
					w.db.logger.Error("after-commit function panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				}
			}()
			fn()
		}()
	}
}

// runJob calls the job's function and turns a panic into an error, so that
// a bug in one write function fails that write instead of the process. The
// stack is logged here because it exists nowhere else.
func (w *writer) runJob(t *Tx, j *writeJob) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.db.logger.Error("write function panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrWritePanicked, r)
		}
	}()
	return j.fn(t)
}
