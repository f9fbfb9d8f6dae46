package pushrules

import (
	"encoding/json"
	"testing"
)

// BenchmarkEvaluateMessage evaluates a plain room message (prepared once)
// for ten users under the default rules, as the event path does for the
// members of a room.
func BenchmarkEvaluateMessage(b *testing.B) {
	var evs []*Evaluator
	for i := range 10 {
		evs = append(evs, Compile(Defaults("@user"+string(rune('a'+i))+":hafen.test")))
	}
	content := json.RawMessage(`{"msgtype":"m.text","body":"hello there, how is everyone doing today?"}`)
	ctx := &Context{DisplayName: "Someone", MemberCount: func() int { return 10 }, SenderMayNotify: func(string) bool { return false }}
	b.ReportAllocs()
	for b.Loop() {
		e := NewEvent("m.room.message", "@sender:hafen.test", "!room:hafen.test", nil, content)
		for i, ev := range evs {
			ctx.UserID = "@user" + string(rune('a'+i)) + ":hafen.test"
			if r := ev.Evaluate(e, ctx); !r.Notify {
				b.Fatal("a message to ten does not notify")
			}
		}
	}
}

// BenchmarkNewEvent prepares a plain room message for evaluation, once per
// event on the event path.
func BenchmarkNewEvent(b *testing.B) {
	content := json.RawMessage(`{"msgtype":"m.text","body":"hello there, how is everyone doing today?"}`)
	b.ReportAllocs()
	for b.Loop() {
		NewEvent("m.room.message", "@sender:hafen.test", "!room:hafen.test", nil, content)
	}
}
