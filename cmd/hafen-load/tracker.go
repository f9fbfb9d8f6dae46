package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadIDKey is the content key that carries a message's unique id.
const loadIDKey = "hafen_load_id"

// tracker records, for every message of a run, when its send started and
// ended and when each syncer saw it. It is safe for concurrent use. Message i
// is message i%M of sender i/M.
type tracker struct {
	runID string

	mu          sync.Mutex
	sendStart   []time.Time   // zero until the send starts
	sendEnd     []time.Time   // zero until the send got its 200
	sendFailed  []bool        // the send ended in an error
	seen        [][]time.Time // [syncer][message], zero until seen
	sendersDone bool
	lastSeen    time.Time
	complete    chan struct{} // closed once every sent message is seen by every syncer
	closed      bool
}

func newTracker(runID string, messages, syncers int) *tracker {
	t := &tracker{
		runID:      runID,
		sendStart:  make([]time.Time, messages),
		sendEnd:    make([]time.Time, messages),
		sendFailed: make([]bool, messages),
		seen:       make([][]time.Time, syncers),
		complete:   make(chan struct{}),
	}
	for s := range t.seen {
		t.seen[s] = make([]time.Time, messages)
	}
	return t
}

// messageID is the unique id carried by message i.
func (t *tracker) messageID(i int) string {
	return t.runID + "/" + strconv.Itoa(i)
}

// content is the event content of message i.
func (t *tracker) content(i int) map[string]any {
	id := t.messageID(i)
	return map[string]any{
		"msgtype": "m.text",
		"body":    "hafen-load message " + id,
		loadIDKey: id,
	}
}

// messageIndex returns the index of the message whose event content is
// content, or false when the content is not a message of this run.
func (t *tracker) messageIndex(content json.RawMessage) (int, bool) {
	var c struct {
		LoadID string `json:"hafen_load_id"`
	}
	if json.Unmarshal(content, &c) != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(c.LoadID, t.runID+"/")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(t.sendStart) {
		return 0, false
	}
	return i, true
}

func (t *tracker) startSend(i int, at time.Time) {
	t.mu.Lock()
	t.sendStart[i] = at
	t.mu.Unlock()
}

func (t *tracker) endSend(i int, at time.Time, err error) {
	t.mu.Lock()
	if err != nil {
		t.sendFailed[i] = true
	} else {
		t.sendEnd[i] = at
	}
	t.mu.Unlock()
}

// saw records that syncer s read messages ids in a /sync answer at time at.
// A message seen twice keeps its first time.
func (t *tracker) saw(s int, ids []int, at time.Time) {
	if len(ids) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range ids {
		if t.seen[s][i].IsZero() {
			t.seen[s][i] = at
			if at.After(t.lastSeen) {
				t.lastSeen = at
			}
		}
	}
	t.checkLocked()
}

// sendsDone records that every sender has stopped.
func (t *tracker) sendsDone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sendersDone = true
	t.checkLocked()
}

// checkLocked closes complete once the senders are done and every message
// that was sent successfully has been seen by every syncer. t.mu is held.
func (t *tracker) checkLocked() {
	if t.closed || !t.sendersDone {
		return
	}
	for _, row := range t.seen {
		for i, at := range row {
			if at.IsZero() && !t.sendEnd[i].IsZero() {
				return
			}
		}
	}
	t.closed = true
	close(t.complete)
}

// results summarizes what the tracker recorded.
type results struct {
	sent, failed, notSent int
	sendLatency           []time.Duration
	pairLatency           []time.Duration // every syncer–message pair seen
	allLatency            []time.Duration // per message, until the last syncer saw it
	seenByAll             int
	missingPairs          int
	missingMessages       int
	missingSample         []string
	firstStart, lastEnd   time.Time
	lastSeen              time.Time
}

// maxMissingSample bounds how many missing pairs the report names.
const maxMissingSample = 20

func (t *tracker) results() results {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r results
	r.lastSeen = t.lastSeen
	for i, start := range t.sendStart {
		switch {
		case start.IsZero():
			r.notSent++
			continue
		case t.sendFailed[i]:
			r.failed++
		default:
			r.sent++
			r.sendLatency = append(r.sendLatency, t.sendEnd[i].Sub(start))
			if t.sendEnd[i].After(r.lastEnd) {
				r.lastEnd = t.sendEnd[i]
			}
		}
		if r.firstStart.IsZero() || start.Before(r.firstStart) {
			r.firstStart = start
		}
		var last time.Time
		seenAll := true
		for s := range t.seen {
			at := t.seen[s][i]
			if at.IsZero() {
				seenAll = false
				if !t.sendFailed[i] {
					r.missingPairs++
					if len(r.missingSample) < maxMissingSample {
						r.missingSample = append(r.missingSample, fmt.Sprintf("syncer %d did not see %s", s, t.messageID(i)))
					}
				}
				continue
			}
			r.pairLatency = append(r.pairLatency, at.Sub(start))
			if at.After(last) {
				last = at
			}
		}
		if seenAll && len(t.seen) > 0 {
			r.seenByAll++
			r.allLatency = append(r.allLatency, last.Sub(start))
		} else if !seenAll && !t.sendFailed[i] {
			r.missingMessages++
		}
	}
	return r
}
