package room

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
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

// requests returns n client requests and m remote ones.
func requests(n, m int) []*request {
	var reqs []*request
	for range n {
		reqs = append(reqs, &request{done: make(chan result, 1)})
	}
	for range m {
		reqs = append(reqs, &request{remote: &remoteEvent{}, done: make(chan result, 1)})
	}
	return reqs
}

// recordBatch counts the requests that arrived during the batch.
func TestRecordBatchExpectsTheArrivals(t *testing.T) {
	rs := &roomState{}
	pend(rs, 2)
	rs.recordBatch(requests(4, 0), time.Millisecond)
	if rs.gatherStats.expect != 6 || rs.gatherStats.commit != time.Millisecond {
		t.Errorf("stats = %+v; want expect 6, commit 1ms", rs.gatherStats)
	}
}

// Remote PDUs, in the batch or pending, are not requests the next leader
// may wait for: a federation transaction arrives whole.
func TestRecordBatchCountsOnlyClientRequests(t *testing.T) {
	rs := &roomState{}
	rs.pending = requests(1, 3)
	rs.recordBatch(requests(1, 8), time.Millisecond)
	if rs.gatherStats.expect != 2 {
		t.Errorf("expect = %d after a batch of 1 client request and 8 PDUs, with 1 client request and 3 PDUs pending; want 2", rs.gatherStats.expect)
	}
}

// After a federation transaction of several PDUs, the room's next batch
// leader does not wait for requests: the event path counted no client
// requests in that batch.
func TestRemoteTransactionDoesNotMakeTheNextBatchWait(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		v, _ := roomversion.Lookup("10")
		a := newRemote(t, "a.test")
		s, _, _ := newServiceWith(t, dsn, Config{RemoteKeys: keysOf(a)})
		alice, bob := id.UserID("@alice:hafen.test"), id.UserID("@bob:a.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: v, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		st, ext := head(t, s, roomID)
		join := a.event(t, v, roomID, "m.room.member", str(string(bob)), bob, `{"membership":"join"}`, ext, st)
		mustAccept(t, s, a, join)
		st = withKey(st, join)
		var txn []json.RawMessage
		prev := []*event.PDU{join}
		for i := range 3 {
			msg := a.event(t, v, roomID, "m.room.message", nil, bob, fmt.Sprintf(`{"msgtype":"m.text","body":"%d"}`, i), prev, st)
			txn = append(txn, msg.JSON())
			prev = []*event.PDU{msg}
		}
		for i, r := range s.ProcessRemote(ctx, a.name, txn) {
			if r.Verdict != pducheck.Accept || r.Err != nil {
				t.Fatalf("PDU %d: %v %v, want accept", i, r.Verdict, r.Err)
			}
		}
		rs, err := s.room(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		rs.mu.Lock()
		expect := rs.gatherStats.expect
		rs.mu.Unlock()
		if expect != 0 {
			t.Errorf("after a transaction of 3 PDUs the next batch leader expects %d requests, want 0", expect)
		}
	})
}
