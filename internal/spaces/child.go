package spaces

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// ChildState is an m.space.child event as the hierarchy shows it: a
// stripped state event with its origin_server_ts.
type ChildState struct {
	Type           string          `json:"type"`
	StateKey       string          `json:"state_key"`
	Sender         id.UserID       `json:"sender"`
	Content        json.RawMessage `json:"content"`
	OriginServerTS int64           `json:"origin_server_ts"`
}

// childContent is the part of an m.space.child content the walk reads.
type childContent struct {
	Via       []string `json:"via"`
	Order     *string  `json:"order"`
	Suggested bool     `json:"suggested"`
}

// child is one valid m.space.child event of a space.
type child struct {
	state   ChildState
	roomID  id.RoomID
	via     []id.ServerName
	order   string
	ordered bool
	suggest bool
}

// parseChildren keeps the valid m.space.child events among evs: a room ID
// as state key and a non-empty via list of server names (an event whose
// via is gone, redacted or cleared, removes the child). With
// suggestedOnly only suggested children are kept. They come back in the
// spec's order: children with a valid order (at most 50 characters of
// U+0020 to U+007E) by order, then by origin_server_ts, then by room ID.
func parseChildren(evs []ChildState, suggestedOnly bool) []child {
	var out []child
	for _, e := range evs {
		roomID, err := id.ParseRoomID(e.StateKey)
		if err != nil {
			continue
		}
		var c childContent
		if json.Unmarshal(e.Content, &c) != nil || len(c.Via) == 0 {
			continue
		}
		if suggestedOnly && !c.Suggested {
			continue
		}
		ch := child{state: e, roomID: roomID, suggest: c.Suggested}
		for _, v := range c.Via {
			if srv, err := id.ParseServerName(v); err == nil {
				ch.via = append(ch.via, srv)
			}
		}
		if len(ch.via) == 0 {
			continue
		}
		if c.Order != nil && validOrder(*c.Order) {
			ch.order, ch.ordered = *c.Order, true
		}
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b child) int {
		switch {
		case a.ordered && !b.ordered:
			return -1
		case !a.ordered && b.ordered:
			return 1
		case a.ordered && b.ordered:
			if c := strings.Compare(a.order, b.order); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.state.OriginServerTS, b.state.OriginServerTS); c != 0 {
			return c
		}
		return strings.Compare(string(a.roomID), string(b.roomID))
	})
	return out
}

// validOrder reports whether an order value is valid: at most 50
// characters, each in U+0020 to U+007E.
func validOrder(o string) bool {
	if len(o) > 50 {
		return false
	}
	for i := 0; i < len(o); i++ {
		if o[i] < 0x20 || o[i] > 0x7e {
			return false
		}
	}
	return true
}

// childStates turns stored m.space.child events into ChildStates;
// redacted events keep an empty content (no via: no child).
func childStates(evs []store.Event) []ChildState {
	out := make([]ChildState, 0, len(evs))
	for _, e := range evs {
		if e.StateKey == nil {
			continue
		}
		content := json.RawMessage(event.RawContent(e.JSON))
		if e.RedactedBecause != "" || content == nil {
			content = json.RawMessage(`{}`)
		}
		out = append(out, ChildState{
			Type: "m.space.child", StateKey: *e.StateKey, Sender: e.Sender, Content: content, OriginServerTS: e.OriginServerTS,
		})
	}
	return out
}
