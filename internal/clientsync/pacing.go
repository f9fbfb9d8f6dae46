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
type answerPacing struct {
	budget int // answers per second; 0 or less never paces

	mu sync.Mutex
	// last holds when each device was last answered, for the devices
	// answered since the window before prunedAt.
	last map[deviceKey]time.Time
	// syncing is how many devices were answered in the window before
	// prunedAt.
	syncing  int
	prunedAt time.Time
}

func newAnswerPacing(budget int) *answerPacing {
	return &answerPacing{budget: budget, last: map[deviceKey]time.Time{}}
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
// now; 0 answers it at once.
func (p *answerPacing) wait(user id.UserID, device id.DeviceID, now time.Time) time.Duration {
	if p.budget <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.last[deviceKey{user, device}]
	if !ok {
		return 0
	}
	return max(last.Add(p.interval()).Sub(now), 0)
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
	p.last[deviceKey{user, device}] = now
	if now.Sub(p.prunedAt) < pacingWindow {
		return
	}
	for k, t := range p.last {
		if now.Sub(t) >= pacingWindow {
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
