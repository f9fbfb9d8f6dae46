package room

import (
	"testing"
	"time"
)

// pend queues n requests on rs the way submit does.
func pend(rs *roomState, n int) {
	rs.pmu.Lock()
	defer rs.pmu.Unlock()
	for range n {
		rs.pending = append(rs.pending, &request{done: make(chan result, 1)})
		rs.wakeGatherer()
	}
}

// A batch leader after a batch of several requests waits for as many
// requests as that batch showed, and goes on as soon as they are pending.
// (The last batch is dated an hour ahead, so only the wake-up ends the
// wait.)
func TestGatherWaitsForTheExpectedRequests(t *testing.T) {
	rs := &roomState{}
	rs.gatherStats = gatherStats{expect: 3, done: time.Now().Add(time.Hour), commit: time.Hour}
	pend(rs, 1)
	done := make(chan struct{})
	go func() {
		rs.mu.Lock()
		rs.gather()
		rs.mu.Unlock()
		close(done)
	}()
	for {
		rs.pmu.Lock()
		waiting := rs.gathering != nil
		rs.pmu.Unlock()
		if waiting {
			break
		}
		select {
		case <-done:
			t.Fatal("gather returned with 1 of 3 expected requests pending")
		default:
			time.Sleep(time.Millisecond)
		}
	}
	pend(rs, 1)
	select {
	case <-done:
		t.Fatal("gather returned with 2 of 3 expected requests pending")
	default:
	}
	pend(rs, 1)
	<-done
	if rs.gathering != nil {
		t.Error("gather left its wake-up channel set")
	}
}

// A room whose last batch held one request (sequential sends) never waits,
// nor does one whose expected requests are already pending.
func TestGatherDoesNotWaitWithoutReason(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expect  int
		pending int
	}{
		{"one request at a time", 1, 0},
		{"all expected requests pending", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &roomState{}
			rs.gatherStats = gatherStats{expect: tc.expect, done: time.Now().Add(time.Hour), commit: time.Hour}
			pend(rs, tc.pending)
			rs.gather() // would wait for an hour
		})
	}
}

// recordBatch counts the requests that arrived during the batch.
func TestRecordBatchExpectsTheArrivals(t *testing.T) {
	rs := &roomState{}
	pend(rs, 2)
	rs.recordBatch(4, time.Millisecond)
	if rs.gatherStats.expect != 6 || rs.gatherStats.commit != time.Millisecond {
		t.Errorf("stats = %+v; want expect 6, commit 1ms", rs.gatherStats)
	}
}
