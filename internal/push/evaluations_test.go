package push

import (
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestEvaluationsTakeOnce hands each event's evaluations over once, drops
// those of events older than the one taken, and keeps a bounded number.
func TestEvaluationsTakeOnce(t *testing.T) {
	e := NewEvaluations()
	one := func(u id.UserID) []Evaluation { return []Evaluation{{User: u, Notify: true}} }
	e.Record(1, one("@a:x"))
	e.Record(2, one("@b:x"))
	e.Record(3, one("@c:x"))
	if got := e.Take(2); len(got) != 1 || got[0].User != "@b:x" {
		t.Fatalf("Take(2) = %v", got)
	}
	if got := e.Take(2); got != nil {
		t.Errorf("Take(2) again = %v, want nothing", got)
	}
	if got := e.Take(1); got != nil {
		t.Errorf("Take(1) after Take(2) = %v, want nothing: the notifier passed it", got)
	}
	if got := e.Take(4); got != nil {
		t.Errorf("Take(4) = %v, never recorded", got)
	}
	if got := e.Take(3); got != nil {
		t.Errorf("Take(3) after Take(4) = %v, want nothing", got)
	}
	if e.held != 0 || len(e.byPos) != 0 {
		t.Errorf("after taking everything: held %d, %d positions", e.held, len(e.byPos))
	}

	e.limit = 10
	for pos := int64(10); pos < 30; pos++ {
		e.Record(pos, []Evaluation{{User: id.UserID(fmt.Sprintf("@u%d:x", pos))}, {User: "@v:x"}})
	}
	if e.held > 10 || len(e.byPos) != 5 {
		t.Errorf("held %d evaluations of %d events, want the newest 5 events' 10", e.held, len(e.byPos))
	}
	if got := e.Take(24); got != nil {
		t.Errorf("Take(24) = %v, want it dropped by the bound", got)
	}
	if got := e.Take(25); len(got) != 2 {
		t.Errorf("Take(25) = %v, want its two", got)
	}
	var nilE *Evaluations
	nilE.Record(1, one("@a:x"))
	if nilE.Take(1) != nil {
		t.Error("a nil Evaluations returned evaluations")
	}
}
