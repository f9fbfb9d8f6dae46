package room

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestRelationOf(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		relType       string
		parent        id.EventID
		key           string
		ok            bool
	}{
		{"thread", `{"m.relates_to":{"rel_type":"m.thread","event_id":"$root:x.test"}}`, "m.thread", "$root:x.test", "", true},
		{"annotation with key", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e:x.test","key":"👍"}}`, "m.annotation", "$e:x.test", "👍", true},
		{"reply only is no relationship", `{"m.relates_to":{"m.in_reply_to":{"event_id":"$e:x.test"}}}`, "", "", "", false},
		{"no relates_to", `{"body":"m.relates_to"}`, "", "", "", false},
		{"event_id not a string", `{"m.relates_to":{"rel_type":"m.thread","event_id":5}}`, "", "", "", false},
		{"event_id not an event ID", `{"m.relates_to":{"rel_type":"m.thread","event_id":"root"}}`, "", "", "", false},
		{"rel_type not a string", `{"m.relates_to":{"rel_type":["m.thread"],"event_id":"$e:x.test"}}`, "", "", "", false},
		{"relates_to not an object", `{"m.relates_to":"$e:x.test"}`, "", "", "", false},
		{"NUL in rel_type is no relationship", `{"m.relates_to":{"rel_type":"m.\u0000thread","event_id":"$e:x.test"}}`, "", "", "", false},
		{"NUL in key is no relationship", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e:x.test","key":"a\u0000"}}`, "", "", "", false},
		{"key not a string is dropped", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e:x.test","key":1}}`, "m.annotation", "$e:x.test", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, parent, key, ok := RelationOf(json.RawMessage(tc.content))
			if rt != tc.relType || parent != tc.parent || key != tc.key || ok != tc.ok {
				t.Errorf("RelationOf(%s) = %q %q %q %v, want %q %q %q %v", tc.content, rt, parent, key, ok, tc.relType, tc.parent, tc.key, tc.ok)
			}
		})
	}
}
