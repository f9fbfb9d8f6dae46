package push

import (
	"encoding/json"
	"sync"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Evaluation is the outcome of one user's push rules for one event.
type Evaluation struct {
	User id.UserID
	// Notify and Highlight are the rule's verdict; Actions its actions
	// (shared with the compiled rules: never modified).
	Notify, Highlight bool
	Actions           []json.RawMessage
}

// maxEvaluations bounds the evaluations an Evaluations holds; beyond it
// the oldest events' go first.
const maxEvaluations = 1 << 14

// Evaluations hands push-rule evaluations from sync's unread counters,
// which evaluate every event for the users who sync as soon as it is
// committed, to the Notifier, which would otherwise evaluate the same
// rules for the same users again a moment later. It holds a bounded
// number of them by stream position (the newest events'); the notifier
// evaluates itself whatever it does not find (users who do not sync,
// events from before a restart, or older than what is kept). The zero
// value is not usable; call NewEvaluations. Safe for concurrent use.
type Evaluations struct {
	// mu guards the fields below. A leaf.
	mu    sync.Mutex
	byPos map[int64][]Evaluation
	// order holds the positions of byPos, oldest first (a queue from
	// head), and held counts their evaluations.
	order []int64
	head  int
	held  int
	limit int
}

// NewEvaluations returns an empty Evaluations.
func NewEvaluations() *Evaluations {
	return &Evaluations{byPos: map[int64][]Evaluation{}, limit: maxEvaluations}
}

// Record keeps the evaluations of the event at stream position pos; an
// earlier record of pos is replaced.
func (e *Evaluations) Record(pos int64, evs []Evaluation) {
	if e == nil || len(evs) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.byPos[pos]; ok {
		e.held -= len(old)
	} else {
		e.order = append(e.order, pos)
	}
	e.byPos[pos] = evs
	e.held += len(evs)
	for e.held > e.limit && e.head < len(e.order) {
		p := e.order[e.head]
		e.head++
		e.held -= len(e.byPos[p])
		delete(e.byPos, p)
	}
	if e.head > len(e.order)/2 {
		e.order = append(e.order[:0], e.order[e.head:]...)
		e.head = 0
	}
}

// Take returns and forgets the evaluations recorded for the event at
// stream position pos, and forgets those of older events, which the
// notifier has passed.
func (e *Evaluations) Take(pos int64) []Evaluation {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.head < len(e.order) && e.order[e.head] < pos {
		p := e.order[e.head]
		e.head++
		e.held -= len(e.byPos[p])
		delete(e.byPos, p)
	}
	evs, ok := e.byPos[pos]
	if !ok {
		return nil
	}
	delete(e.byPos, pos)
	e.held -= len(evs)
	if e.head < len(e.order) && e.order[e.head] == pos {
		e.head++
	}
	if e.head == len(e.order) {
		e.order, e.head = e.order[:0], 0
	}
	return evs
}
