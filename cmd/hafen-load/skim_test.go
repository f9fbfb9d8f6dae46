package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

// dropMembers is the reference of withoutMembers: it deletes the members
// named name from a decoded document.
func dropMembers(v any, name string) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, name)
		for k, x := range v {
			v[k] = dropMembers(x, name)
		}
	case []any:
		for i, x := range v {
			v[i] = dropMembers(x, name)
		}
	}
	return v
}

func TestWithoutMembers(t *testing.T) {
	docs := []string{
		`{"a":1,"ephemeral":{"events":[{"x":"}"}]},"b":2}`,
		`{"ephemeral":{},"b":2}`,
		`{"a":1,"ephemeral":[1,2,{"c":[]}]}`,
		`{"ephemeral":null}`,
		`{"ephemeral":1,"b":true}`,
		`{"a":"ephemeral","b":"\"ephemeral\":1"}`,
		`{"ephemeral\"":1,"x":{"ephemeral":"v,}]"}}`,
		`{ "a" : 1 , "ephemeral" : { "k" : "\\" } , "b" : [ "ephemeral" ] }`,
		`{"next_batch":"s1","rooms":{"join":{"!r:x":{"timeline":{"events":[{"type":"m.room.message","content":{"body":"{\"ephemeral\":[]}"}}]},` +
			`"ephemeral":{"events":[{"type":"m.receipt","content":{"$e":{"m.read":{"@u:x":{"ts":1}}}}}]},"unread_notifications":{}}}}}`,
		`[{"ephemeral":2},{"a":{"ephemeral":{"ephemeral":3}},"ephemeral":4}]`,
		`{"no":"match here"}`,
	}
	for _, doc := range docs {
		var want any
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("bad test document %s: %v", doc, err)
		}
		want = dropMembers(want, "ephemeral")
		out := withoutMembers([]byte(doc), "ephemeral")
		var got any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("withoutMembers(%s) = %s, not JSON: %v", doc, out, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("withoutMembers(%s) = %s, want the document without the members", doc, out)
		}
	}
}
