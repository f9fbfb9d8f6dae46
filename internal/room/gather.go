package room

import "time"

// Gathering the next batch.
//
// A room's batch commits as one transaction, and the commit's cost (a
// sync of the write-ahead log) hardly depends on how many events it holds.
// Clients that send one after another, each awaiting its answer, come back
// together once a batch answers them; the first of them would find the
// room idle and commit alone while the others queue behind it, so the
// batches of a busy room split into small ones that each pay a sync. A
// batch leader therefore waits, briefly, for the requests the room has
// shown it can expect: only when the previous batch answered several
// requests, only until as many are pending as that batch answered plus
// those that arrived during it, and at most a quarter of the previous
// batch's commit time (capped at maxGather). A room that sees one request
// at a time never waits.

// maxGather bounds how long a batch leader waits for more requests.
const maxGather = 2 * time.Millisecond

// gatherStats is what a room's last batch tells about the next one.
// Guarded by the room lock.
type gatherStats struct {
	// expect is how many requests the last batch answered plus how many
	// arrived while it ran.
	expect int
	// done is when the last batch finished; commit how long its persist
	// took.
	done   time.Time
	commit time.Duration
}

// gather waits until the room has as many pending requests as its last
// batch suggests, or until the waiting time is over. The caller holds
// rs.mu and not rs.pmu.
func (rs *roomState) gather() {
	g := rs.gatherStats
	if g.expect < 2 || g.commit <= 0 {
		return
	}
	wait := min(g.commit/4, maxGather)
	deadline := g.done.Add(wait)
	left := time.Until(deadline)
	if left <= 0 {
		return
	}
	rs.pmu.Lock()
	if len(rs.pending) >= g.expect {
		rs.pmu.Unlock()
		return
	}
	ch := make(chan struct{})
	rs.gathering, rs.gatherTarget = ch, g.expect
	rs.pmu.Unlock()

	t := time.NewTimer(left)
	select {
	case <-ch:
	case <-t.C:
	}
	t.Stop()
	rs.pmu.Lock()
	rs.gathering = nil
	rs.pmu.Unlock()
}

// wakeGatherer tells a waiting batch leader that enough requests are
// pending. The caller holds rs.pmu.
func (rs *roomState) wakeGatherer() {
	if rs.gathering != nil && len(rs.pending) >= rs.gatherTarget {
		close(rs.gathering)
		rs.gathering = nil
	}
}

// recordBatch notes what a finished batch of requests tells about the
// next one: commit is how long its persist took. Only clients' requests
// count: a client comes back with its next event once the batch answers
// it, but a federation transaction arrives whole, one after another per
// origin, so the PDUs of one say nothing about what the next leader may
// wait for (counting them made every smaller transaction that followed a
// bigger one wait out the gathering time). The caller holds rs.mu.
func (rs *roomState) recordBatch(reqs []*request, commit time.Duration) {
	rs.pmu.Lock()
	arrived := clientRequests(rs.pending)
	rs.pmu.Unlock()
	rs.gatherStats = gatherStats{expect: clientRequests(reqs) + arrived, done: time.Now(), commit: commit}
}

// clientRequests counts the requests of local clients (not remote PDUs).
func clientRequests(reqs []*request) int {
	n := 0
	for _, r := range reqs {
		if r.remote == nil {
			n++
		}
	}
	return n
}
