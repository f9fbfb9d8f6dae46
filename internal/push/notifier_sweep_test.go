package push

import (
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
)

// TestNotifierDropsIdleRules checks that the notifier's cache of compiled
// push rules keeps the users a batch used within rulesIdle and drops the
// others, so that it holds the users of the rooms active now rather than
// everyone ever notified; prune times older than pruneEvery go too.
func TestNotifierDropsIdleRules(t *testing.T) {
	ev := pushrules.Compile(pushrules.Defaults("@a:hafen.test"))
	start := time.Unix(1_000_000, 0)
	n := &Notifier{
		cfg: NotifierConfig{PruneEvery: time.Hour},
		rules: map[id.UserID]*cachedRules{
			"@idle:hafen.test":   {ev: ev, used: start},
			"@active:hafen.test": {ev: ev, used: start.Add(2 * rulesIdle)},
		},
		pruned: map[id.UserID]time.Time{
			"@idle:hafen.test":   start,
			"@active:hafen.test": start.Add(2 * rulesIdle),
		},
		swept: start,
	}
	now := start.Add(2*rulesIdle + time.Second)
	n.sweepRules(start.Add(rulesSweep / 2)) // too soon after the last sweep
	if len(n.rules) != 2 {
		t.Fatalf("a sweep within rulesSweep of the last one dropped rules: %d left", len(n.rules))
	}
	n.sweepRules(now)
	if _, ok := n.rules["@idle:hafen.test"]; ok {
		t.Error("the idle user's rules were kept")
	}
	if _, ok := n.rules["@active:hafen.test"]; !ok {
		t.Error("the active user's rules were dropped")
	}
	n.sweepRules(start.Add(time.Hour + time.Minute)) // the idle user's prune time is over an hour old
	if _, ok := n.pruned["@idle:hafen.test"]; ok {
		t.Error("a prune time older than pruneEvery was kept")
	}
}
