package clientsync

// Spec: Client-Server API § Filtering (Filter.event_fields)
// https://spec.matrix.org/v1.19/appendices/#dot-separated-property-paths

import (
	"encoding/json"
	"strconv"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/pushrules"
)

// fieldTree is a set of dot-separated property paths as a tree: a node
// with no children selects the whole value at its path.
type fieldTree map[string]fieldTree

// newFieldTree parses event_fields. A path that is a prefix of another
// selects the whole value and wins.
func newFieldTree(paths []string) fieldTree {
	if len(paths) == 0 {
		return nil
	}
	root := fieldTree{}
	for _, p := range paths {
		node := root
		parts := pushrules.SplitPath(p)
		for i, part := range parts {
			child, ok := node[part]
			if ok && len(child) == 0 {
				break // an ancestor already selects everything below
			}
			if i == len(parts)-1 {
				node[part] = fieldTree{}
				break
			}
			if !ok {
				child = fieldTree{}
				node[part] = child
			}
			node = child
		}
	}
	return root
}

// project keeps only the selected properties of a JSON object. Paths that
// do not exist, or that go through a value that is no object, select
// nothing.
func (t fieldTree) project(raw json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(t))
	for k, sub := range t {
		v, ok := obj[k]
		if !ok {
			continue
		}
		if len(sub) == 0 {
			out[k] = v
			continue
		}
		if p := sub.project(v); p != nil {
			out[k] = p
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}

// MarshalJSON encodes the batch, with each event cut down to the filter's
// event_fields when it has any.
func (b StateBatch) MarshalJSON() ([]byte, error) { return b.appendJSON(nil) }

func (b StateBatch) appendJSON(dst []byte) ([]byte, error) {
	dst = appendEvents(append(dst, `{"events":`...), b.Events, b.fields)
	return append(dst, '}'), nil
}

// appendEvents appends events as a JSON array, projected onto fields when
// set. They are written by clientevent.AppendList (or AppendJSON), which
// copies each event's content as it is: every sync answer of every member
// of a busy room encodes the room's new events, and encoding/json's
// reflection and second pass over the content were the largest part of
// that.
func appendEvents(dst []byte, evs []clientevent.Event, fields fieldTree) []byte {
	if fields == nil {
		return clientevent.AppendList(dst, evs)
	}
	dst = append(dst, '[')
	for i := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		p := fields.project(evs[i].AppendJSON(nil))
		if p == nil {
			p = json.RawMessage("null")
		}
		dst = append(dst, p...)
	}
	return append(dst, ']')
}

// MarshalJSON encodes the batch, with each event cut down to the filter's
// event_fields when it has any.
func (b TimelineBatch) MarshalJSON() ([]byte, error) { return b.appendJSON(nil) }

func (b TimelineBatch) appendJSON(dst []byte) ([]byte, error) {
	dst = appendEvents(append(dst, `{"events":`...), b.Events, b.fields)
	dst = append(dst, `,"limited":`...)
	dst = strconv.AppendBool(dst, b.Limited)
	if b.PrevBatch != "" {
		dst = append(dst, `,"prev_batch":`...)
		dst = appendJSONString(dst, b.PrevBatch)
	}
	return append(dst, '}'), nil
}

// applyEventFields makes every state and timeline batch of the response
// encode only the filter's event_fields.
func (r *Response) applyEventFields(f *Filter) {
	if r.Rooms == nil || f == nil || len(f.EventFields) == 0 {
		return
	}
	t := newFieldTree(f.EventFields)
	for _, jr := range r.Rooms.Join {
		jr.State.fields, jr.Timeline.fields = t, t
		for _, after := range []*StateBatch{jr.StateAfter, jr.UnstableStateAfter} {
			if after != nil {
				after.fields = t
			}
		}
	}
	for _, lr := range r.Rooms.Leave {
		lr.State.fields, lr.Timeline.fields = t, t
		for _, after := range []*StateBatch{lr.StateAfter, lr.UnstableStateAfter} {
			if after != nil {
				after.fields = t
			}
		}
	}
}
