package clientsync

import (
	"context"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// DefaultAnswerBudget is the default Config.AnswerBudget: sync answers
// per second, across all devices, that pacing aims to stay under. With 100
// devices syncing, each is answered at most once per 20 ms; with 5, at
// most once per millisecond, which hardly any client comes back sooner
// than.
const DefaultAnswerBudget = 5_000

// MaxAnswerInterval caps the interval answerPacing spaces a device's
// answers by, however many devices sync: no one notices news 50 ms late.
const MaxAnswerInterval = 50 * time.Millisecond

// pacingWindow is how far back answerPacing counts the devices that sync:
// a device answered within the last window counts as syncing.
const pacingWindow = time.Second

// deviceKey names one device of one user.
type deviceKey struct {
	user   id.UserID
	device id.DeviceID
}

// answerPacing spaces the answers to each device when many devices sync at
// once. A long poll answered at once comes back for the next news at once;
// over the internet its round trip spaces the polls, but a client near the
// server (on the same host or network) in a busy room polls in a tight
// loop, and a hundred such clients cost the server one answer per client
// for every message or two. With N devices syncing, a device's next answer
// waits until N/budget seconds (at most MaxAnswerInterval) after its last
// one, and then carries what came meanwhile, together. A device whose last
// answer is older than that, as after any quiet spell, is answered at once.
//
// A client in such a loop may also post a read receipt for each answer, as
// fast as it gets them: a request per answer, which would double what the
// loop costs the server. Each receipt a device posted since its last
// answer therefore adds one interval to its next wait (see wait): the
// device's answers and receipts together stay within its share of the
// budget. A client that posts receipts at Element's pace (at most two a
// second) is hardly slowed.
type answerPacing struct {
	budget int // answers per second; 0 or less never paces

	mu sync.Mutex
	// last holds when each device was last answered, and how many
	// receipts it posted since, for the devices answered since the
	// window before prunedAt.
	last map[deviceKey]pace
	// syncing is how many devices were answered in the window before
	// prunedAt.
	syncing  int
	prunedAt time.Time
}

// pace is one device's pacing state: when it was last answered and how
// many receipts it posted since.
type pace struct {
	at       time.Time
	receipts int
}

func newAnswerPacing(budget int) *answerPacing {
	return &answerPacing{budget: budget, last: map[deviceKey]pace{}}
}

// interval returns the time to leave between two answers to one device,
// from the number of devices syncing. The caller holds p.mu.
func (p *answerPacing) interval() time.Duration {
	if p.budget <= 0 || p.syncing == 0 {
		return 0
	}
	return min(time.Duration(p.syncing)*time.Second/time.Duration(p.budget), MaxAnswerInterval)
}

// wait returns how much longer the device's next answer should wait at
// now (0 answers it at once), and the receipts the device posted since
// its last answer. Each such receipt is a request of its own, and a client
// that posts one per answer doubles its share of the server: its next
// answer waits one more interval per receipt (up to MaxAnswerInterval in
// all), so that a device's answers and receipts together stay within its
// share of the budget.
func (p *answerPacing) wait(user id.UserID, device id.DeviceID, now time.Time) (time.Duration, int) {
	if p.budget <= 0 {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.last[deviceKey{user, device}]
	if !ok {
		return 0, 0
	}
	space := min(p.interval()*time.Duration(1+last.receipts), MaxAnswerInterval)
	return max(last.at.Add(space).Sub(now), 0), last.receipts
}

// receiptPosted counts a receipt the device posted toward its next wait.
// A device not answered lately is not paced, and its receipts do not
// count.
func (p *answerPacing) receiptPosted(user id.UserID, device id.DeviceID) {
	if p.budget <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := deviceKey{user, device}
	if last, ok := p.last[k]; ok {
		last.receipts++
		p.last[k] = last
	}
}

// answered records that the device was answered at now. Once per window it
// forgets the devices not answered within the last window and counts the
// rest, so the map holds the devices of at most two windows.
func (p *answerPacing) answered(user id.UserID, device id.DeviceID, now time.Time) {
	if p.budget <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[deviceKey{user, device}] = pace{at: now}
	if now.Sub(p.prunedAt) < pacingWindow {
		return
	}
	for k, t := range p.last {
		if now.Sub(t.at) >= pacingWindow {
			delete(p.last, k)
		}
	}
	p.syncing = len(p.last)
	p.prunedAt = now
}

// pause waits d or until ctx is done, whichever comes first.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ReceiptPosted tells sync that the user's device posted a read receipt,
// which counts toward the pace of its answers (see answerPacing.wait).
func (s *Service) ReceiptPosted(user id.UserID, device id.DeviceID) {
	s.pacing.receiptPosted(user, device)
}
