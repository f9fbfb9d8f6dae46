package spaces

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
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

// child is one m.space.child event of a space that makes a child.
type child struct {
	state   ChildState
	roomID  id.RoomID
	via     []id.ServerName
	order   string
	ordered bool
	suggest bool
}

// childOf returns the child an m.space.child event makes, false if it
// makes none (see room.SpaceChild, which a room upgrade follows too). The
// walk, the children_state of a room and the children of a federation
// answer all follow it. An order or suggested of the wrong type counts as
// absent, as the schema says of order.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#mspacechild
func childOf(e ChildState) (child, bool) {
	if e.Type != "m.space.child" {
		return child{}, false
	}
	roomID, via, ok := room.SpaceChild(e.StateKey, e.Content)
	if !ok {
		return child{}, false
	}
	var content struct {
		Order     json.RawMessage `json:"order"`
		Suggested json.RawMessage `json:"suggested"`
	}
	if json.Unmarshal(e.Content, &content) != nil {
		return child{}, false
	}
	c := child{state: e, roomID: roomID, via: via}
	var order string
	if json.Unmarshal(content.Order, &order) == nil && validOrder(order) {
		c.order, c.ordered = order, true
	}
	var suggested bool
	if json.Unmarshal(content.Suggested, &suggested) == nil {
		c.suggest = suggested
	}
	return c, true
}

// parseChildren returns the children the m.space.child events evs of a
// room make (childOf), none unless roomType is a space's (the event "has
// no effect in rooms which are not spaces"); with suggestedOnly only the
// suggested ones. They come back in the spec's order: children with a
// valid order by order, then by origin_server_ts, then by room ID.
func parseChildren(roomType string, evs []ChildState, suggestedOnly bool) []child {
	if roomType != RoomTypeSpace {
		return nil
	}
	var out []child
	for _, e := range evs {
		c, ok := childOf(e)
		if !ok || (suggestedOnly && !c.suggest) {
			continue
		}
		out = append(out, c)
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

// childrenState is the children_state of a room: the m.space.child events
// among evs that make the children parseChildren returns, in their order,
// and an empty list (never nil) when there are none.
func childrenState(roomType string, evs []ChildState, suggestedOnly bool) []ChildState {
	children := parseChildren(roomType, evs, suggestedOnly)
	out := make([]ChildState, len(children))
	for i, c := range children {
		out[i] = c.state
	}
	return out
}

// validOrder reports whether an order value is valid: 1 to 50
// characters, each in U+0020 to U+007E (the schema's pattern
// ^[\x20-\x7E]+$ and maxLength 50).
func validOrder(o string) bool {
	if o == "" || len(o) > 50 {
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
