package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// blockWriter occupies the writer with a job that waits until release is
// called, so that the test can queue jobs deterministically.
func blockWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started := make(chan struct{})
	unblock := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(*Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unblock)
			if err := <-done; err != nil {
				t.Errorf("blocking write: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n jobs wait for the writer.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for db.w.queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued jobs = %d, want %d", db.w.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func userN(i int) id.UserID { return id.UserID(fmt.Sprintf("@u%04d:hafen.test", i)) }

var errJobFailed = errors.New("job failed on purpose")

func TestWriteGroupCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		release := blockWriter(t, db)
		batchesBefore := db.w.batches.Load()

		const jobs = 100
		errs := make([]error, jobs)
		var wg sync.WaitGroup
		for i := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Write(ctx, func(tx *Tx) error {
					if err := tx.CreateUser(ctx, User{UserID: userN(i), CreatedTS: int64(i)}); err != nil {
						return err
					}
					if i%5 == 0 {
						// The insert above must be rolled back with the job.
						return fmt.Errorf("job %d: %w", i, errJobFailed)
					}
					return nil
				})
			}()
		}
		waitQueued(t, db, jobs)
		release()
		wg.Wait()

		for i, err := range errs {
			wantFail := i%5 == 0
			if wantFail && (!errors.Is(err, errJobFailed) || err.Error() != fmt.Sprintf("job %d: %v", i, errJobFailed)) {
				t.Errorf("job %d: Write = %v, want its own error", i, err)
			}
			if !wantFail && err != nil {
				t.Errorf("job %d: Write = %v, want nil", i, err)
			}
			_, err := db.User(ctx, userN(i))
			if wantFail && !errors.Is(err, ErrNotFound) {
				t.Errorf("job %d failed but its user exists (err %v)", i, err)
			}
			if !wantFail && err != nil {
				t.Errorf("job %d committed but User = %v", i, err)
			}
		}
		// 100 queued jobs fit in ceil(100/maxBatchJobs) transactions.
		if got, want := db.w.batches.Load()-batchesBefore, int64((jobs+maxBatchJobs-1)/maxBatchJobs); got != want {
			t.Errorf("transactions for %d queued jobs = %d, want %d", jobs, got, want)
		}
	})
}

func TestWriteConcurrentCallers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const callers, perCaller = 20, 25
		var wg sync.WaitGroup
		errs := make([]error, callers*perCaller)
		for c := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range perCaller {
					i := c*perCaller + k
					errs[i] = db.Write(ctx, func(tx *Tx) error {
						if err := tx.CreateUser(ctx, User{UserID: userN(i), CreatedTS: 1}); err != nil {
							return err
						}
						if i%7 == 3 {
							return errJobFailed
						}
						return nil
					})
				}
			}()
		}
		wg.Wait()
		want := 0
		for i, err := range errs {
			if i%7 == 3 {
				if !errors.Is(err, errJobFailed) {
					t.Errorf("job %d: Write = %v, want errJobFailed", i, err)
				}
				continue
			}
			want++
			if err != nil {
				t.Errorf("job %d: Write = %v", i, err)
			}
		}
		if got := countRows(t, db, "users"); got != int64(want) {
			t.Errorf("users = %d, want %d", got, want)
		}
	})
}

func TestWriteUniqueViolationDoesNotAbortBatch(t *testing.T) {
	// On PostgreSQL a failed statement aborts the whole transaction unless
	// rolled back to a savepoint: the other jobs must still commit.
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		write(t, db, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: userN(0), CreatedTS: 1}) })
		release := blockWriter(t, db)
		results := make(chan error, 3)
		for i := range 3 {
			go func() {
				results <- db.Write(ctx, func(tx *Tx) error {
					// Job 0 collides with the user created above.
					return tx.CreateUser(ctx, User{UserID: userN(i), CreatedTS: 2})
				})
			}()
		}
		waitQueued(t, db, 3)
		release()
		var exists, ok int
		for range 3 {
			err := <-results
			switch {
			case errors.Is(err, ErrExists):
				exists++
			case err == nil:
				ok++
			default:
				t.Errorf("Write = %v", err)
			}
		}
		if exists != 1 || ok != 2 {
			t.Errorf("results: %d ErrExists, %d ok; want 1 and 2", exists, ok)
		}
		for i := 1; i < 3; i++ {
			if _, err := db.User(ctx, userN(i)); err != nil {
				t.Errorf("user %d after batch with a failed job: %v", i, err)
			}
		}
	})
}

func TestWritePanicFailsOnlyThatJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		release := blockWriter(t, db)
		panicked := make(chan error, 1)
		fine := make(chan error, 1)
		go func() {
			panicked <- db.Write(ctx, func(tx *Tx) error {
				if err := tx.CreateUser(ctx, User{UserID: userN(1), CreatedTS: 1}); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		waitQueued(t, db, 1)
		go func() {
			fine <- db.Write(ctx, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: userN(2), CreatedTS: 1}) })
		}()
		waitQueued(t, db, 2)
		release()
		if err := <-panicked; !errors.Is(err, ErrWritePanicked) {
			t.Errorf("panicking job: Write = %v, want ErrWritePanicked", err)
		}
		if err := <-fine; err != nil {
			t.Errorf("job after panicking one: Write = %v", err)
		}
		if _, err := db.User(ctx, userN(1)); !errors.Is(err, ErrNotFound) {
			t.Errorf("panicking job's user: %v, want ErrNotFound", err)
		}
		if _, err := db.User(ctx, userN(2)); err != nil {
			t.Errorf("other job's user: %v", err)
		}
	})
}

func TestWriteCancelledWhileQueued(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		release := blockWriter(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- db.Write(ctx, func(tx *Tx) error {
				ran <- struct{}{}
				return tx.CreateUser(context.Background(), User{UserID: userN(1), CreatedTS: 1})
			})
		}()
		waitQueued(t, db, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Write with cancelled ctx = %v, want context.Canceled", err)
		}
		release()
		// A later write passes the abandoned job in the queue order.
		write(t, db, func(*Tx) error { return nil })
		select {
		case <-ran:
			t.Errorf("abandoned job ran")
		default:
		}
		if _, err := db.User(context.Background(), userN(1)); !errors.Is(err, ErrNotFound) {
			t.Errorf("abandoned job's user: %v, want ErrNotFound", err)
		}
	})
}

func TestTxStopsAtNextStatementWhenCancelled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx, cancel := context.WithCancel(context.Background())
		err := db.Write(ctx, func(tx *Tx) error {
			if err := tx.CreateUser(ctx, User{UserID: userN(1), CreatedTS: 1}); err != nil {
				return err
			}
			cancel()
			return tx.CreateUser(ctx, User{UserID: userN(2), CreatedTS: 1})
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write = %v, want context.Canceled", err)
		}
		// The job failed as a whole, and the writer is still healthy.
		if _, err := db.User(context.Background(), userN(1)); !errors.Is(err, ErrNotFound) {
			t.Errorf("user of cancelled job: %v, want ErrNotFound", err)
		}
		write(t, db, func(tx *Tx) error {
			return tx.CreateUser(context.Background(), User{UserID: userN(3), CreatedTS: 1})
		})
	})
}

func TestCloseRunsQueuedWritesThenRefuses(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := Open(ctx, dsn, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		release := blockWriter(t, db)
		done := make(chan error, 1)
		go func() {
			done <- db.Write(ctx, func(tx *Tx) error { return tx.CreateUser(ctx, User{UserID: userN(1), CreatedTS: 1}) })
		}()
		waitQueued(t, db, 1)
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		release()
		if err := <-done; err != nil {
			t.Errorf("write queued before Close = %v", err)
		}
		if err := <-closed; err != nil {
			t.Errorf("Close = %v", err)
		}
		if err := db.Write(ctx, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close = %v, want ErrClosed", err)
		}
		db = openTestDB(t, dsn)
		if _, err := db.User(ctx, userN(1)); err != nil {
			t.Errorf("after reopen: %v", err)
		}
	})
}

// AfterCommit functions run in commit order, only for jobs whose writes
// commit, and before Write returns.
func TestAfterCommitOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		var mu sync.Mutex
		var ran []int
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Write(ctx, func(tx *Tx) error {
					tx.AfterCommit(func() {
						mu.Lock()
						ran = append(ran, i)
						mu.Unlock()
					})
					if i%5 == 0 {
						return errors.New("rolled back")
					}
					return nil
				})
				mu.Lock()
				defer mu.Unlock()
				if (err == nil) != slices.Contains(ran, i) {
					t.Errorf("job %d: err = %v, after-commit ran = %v before Write returned", i, err, slices.Contains(ran, i))
				}
			}()
		}
		wg.Wait()
		if len(ran) != 32 {
			t.Errorf("%d after-commit functions ran, want 32 (8 of 40 jobs failed)", len(ran))
		}
	})
}
