package pushrules

import (
	"encoding/json"
	"testing"
)

// benchContent and benchPDU are a plain room message and its PDU.
const (
	benchContent = `{"msgtype":"m.text","body":"hello there, how is everyone doing today?"}`
	benchPDU     = `{"auth_events":["$a","$b","$c"],"content":` + benchContent + `,"depth":12,"hashes":{"sha256":"abc"},"origin_server_ts":1700000000000,"prev_events":["$p"],"room_id":"!room:hafen.test","sender":"@sender:hafen.test","signatures":{"hafen.test":{"ed25519:a":"sig"}},"type":"m.room.message"}`
)

// BenchmarkEvaluateMessage evaluates a plain room message (prepared once)
// for ten users under the default rules, as the event path does for the
// members of a room.
func BenchmarkEvaluateMessage(b *testing.B) {
	var evs []*Evaluator
	for i := range 10 {
		evs = append(evs, Compile(Defaults("@user"+string(rune('a'+i))+":hafen.test")))
	}
	benchEvaluate(b, evs)
}

// BenchmarkEvaluateOtherProperty evaluates a plain room message for ten
// users whose rules start with a condition on origin_server_ts, which is
// read from the PDU once per event.
func BenchmarkEvaluateOtherProperty(b *testing.B) {
	var evs []*Evaluator
	for i := range 10 {
		rs := Defaults("@user" + string(rune('a'+i)) + ":hafen.test")
		rs.Override = append([]Rule{{RuleID: "old", Enabled: true, Actions: []json.RawMessage{}, Conditions: []Condition{
			{Kind: CondEventPropertyIs, Key: "origin_server_ts", Value: json.RawMessage(`0`)}}}}, rs.Override...)
		evs = append(evs, Compile(rs))
	}
	benchEvaluate(b, evs)
}

// BenchmarkNewEvent prepares a plain room message for evaluation, once per
// event on the event path.
func BenchmarkNewEvent(b *testing.B) {
	content, pdu := json.RawMessage(benchContent), json.RawMessage(benchPDU)
	b.ReportAllocs()
	for b.Loop() {
		NewEvent("m.room.message", "@sender:hafen.test", "!room:hafen.test", nil, content, "$event", pdu)
	}
}

// BenchmarkNewEventMentions prepares a reply with mentions, whose content
// has property names with dots.
func BenchmarkNewEventMentions(b *testing.B) {
	content := json.RawMessage(`{"msgtype":"m.text","body":"hi","m.mentions":{"user_ids":["@a:hafen.test"]},"m.relates_to":{"m.in_reply_to":{"event_id":"$e"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		NewEvent("m.room.message", "@sender:hafen.test", "!room:hafen.test", nil, content, "$event", nil)
	}
}

// benchEvaluate prepares a plain room message and evaluates it for the
// users of evs, once per iteration.
func benchEvaluate(b *testing.B, evs []*Evaluator) {
	content, pdu := json.RawMessage(benchContent), json.RawMessage(benchPDU)
	ctx := &Context{DisplayName: "Someone", MemberCount: func() int { return 10 }, SenderMayNotify: func(string) bool { return false }}
	b.ReportAllocs()
	for b.Loop() {
		e := NewEvent("m.room.message", "@sender:hafen.test", "!room:hafen.test", nil, content, "$event", pdu)
		for i, ev := range evs {
			ctx.UserID = "@user" + string(rune('a'+i)) + ":hafen.test"
			if r := ev.Evaluate(e, ctx); !r.Notify {
				b.Fatal("a message to ten does not notify")
			}
		}
	}
}
