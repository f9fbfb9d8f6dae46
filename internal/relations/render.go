package relations

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// FormatFunc formats child events (a thread's latest event, an edit) the
// way the endpoint serving their parent formats its events.
type FormatFunc func(ctx context.Context, events []store.Event) ([]clientevent.Event, error)

// Render returns the bundled aggregation of one event as the value of its
// unsigned["m.relations"]: m.thread (latest_event, count,
// current_user_participated), m.reference (chunk of event IDs) and
// m.replace (the latest edit as a full event).
func Render(ctx context.Context, agg *Aggregation, format FormatFunc) (json.RawMessage, error) {
	type threadJSON struct {
		LatestEvent  clientevent.Event `json:"latest_event"`
		Count        int               `json:"count"`
		Participated bool              `json:"current_user_participated"`
	}
	type eventRef struct {
		EventID id.EventID `json:"event_id"`
	}
	type referenceJSON struct {
		Chunk []eventRef `json:"chunk"`
	}
	out := map[string]any{}
	if t := agg.Thread; t != nil {
		latest, err := format(ctx, []store.Event{t.Latest})
		if err != nil {
			return nil, err
		}
		if len(latest) == 1 {
			out[RelThread] = threadJSON{LatestEvent: latest[0], Count: t.Count, Participated: t.Participated}
		}
	}
	if len(agg.References) > 0 {
		refs := referenceJSON{Chunk: make([]eventRef, len(agg.References))}
		for i, r := range agg.References {
			refs.Chunk[i] = eventRef{EventID: r}
		}
		out[RelReference] = refs
	}
	if agg.Replace != nil {
		edit, err := format(ctx, []store.Event{*agg.Replace})
		if err != nil {
			return nil, err
		}
		if len(edit) == 1 {
			out[RelReplace] = edit[0]
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode bundled aggregations: %w", err)
	}
	return raw, nil
}
