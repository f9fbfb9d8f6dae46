package clientsync

import (
	"encoding/json"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Response is the body of a /sync response.
type Response struct {
	NextBatch   string      `json:"next_batch"`
	Rooms       *Rooms      `json:"rooms,omitempty"`
	AccountData *EventBatch `json:"account_data,omitempty"`
	Presence    *EventBatch `json:"presence,omitempty"`
	E2EESections

	// joined are the rooms the user joined within an incremental
	// answer (sent in full), whose members' presence it sends.
	joined []id.RoomID
}

// Rooms holds the per-room sections of a sync response.
type Rooms struct {
	Join   map[string]*JoinedRoom  `json:"join,omitempty"`
	Invite map[string]*InvitedRoom `json:"invite,omitempty"`
	Knock  map[string]*KnockedRoom `json:"knock,omitempty"`
	Leave  map[string]*LeftRoom    `json:"leave,omitempty"`
}

func (r *Rooms) empty() bool {
	return len(r.Join) == 0 && len(r.Invite) == 0 && len(r.Knock) == 0 && len(r.Leave) == 0
}

// EventBatch is a list of events without further metadata.
type EventBatch struct {
	Events []json.RawMessage `json:"events"`
}

// StateBatch is the state section of a room.
type StateBatch struct {
	Events []clientevent.Event `json:"events"`
	// fields, when set, are the filter's event_fields (see MarshalJSON).
	fields fieldTree
}

// IsZero reports a batch with no event list, which a room of a
// use_state_after response has in place of state.
func (b StateBatch) IsZero() bool { return b.Events == nil }

// TimelineBatch is the timeline section of a room.
type TimelineBatch struct {
	Events    []clientevent.Event `json:"events"`
	Limited   bool                `json:"limited"`
	PrevBatch string              `json:"prev_batch,omitempty"`
	// fields, when set, are the filter's event_fields (see MarshalJSON).
	fields fieldTree
}

// Summary is a room's summary for clients that compute room names.
type Summary struct {
	Heroes             []string `json:"m.heroes,omitempty"`
	JoinedMemberCount  *int     `json:"m.joined_member_count,omitempty"`
	InvitedMemberCount *int     `json:"m.invited_member_count,omitempty"`
}

// UnreadNotifications are a room's notification counts.
type UnreadNotifications struct {
	HighlightCount    int `json:"highlight_count"`
	NotificationCount int `json:"notification_count"`
}

// JoinedRoom is a room the user is joined to.
type JoinedRoom struct {
	Summary    *Summary    `json:"summary,omitempty"`
	State      StateBatch  `json:"state,omitzero"`
	StateAfter *StateBatch `json:"state_after,omitempty"`
	// UnstableStateAfter is StateAfter under the name of MSC4222, for
	// the clients that ask for it so (see Request.UnstableStateAfter).
	UnstableStateAfter  *StateBatch          `json:"org.matrix.msc4222.state_after,omitempty"`
	Timeline            TimelineBatch        `json:"timeline"`
	Ephemeral           EventBatch           `json:"ephemeral"`
	AccountData         EventBatch           `json:"account_data"`
	UnreadNotifications *UnreadNotifications `json:"unread_notifications,omitempty"`
	// UnreadThreadNotifications are the counts per thread root, with the
	// filter's unread_thread_notifications.
	UnreadThreadNotifications map[string]UnreadNotifications `json:"unread_thread_notifications,omitempty"`
	// receiptEvents is how many of Ephemeral's events are m.receipt.
	receiptEvents int
}

// setUnread sets the room's notification counts: the whole room's, or
// with the timeline filter's unread_thread_notifications the main
// timeline's and each thread's apart.
func (jr *JoinedRoom) setUnread(req Request, sn unreadSnapshot) {
	tf := timelineFilter(req.Filter)
	main, threads := sn.counts(tf != nil && tf.UnreadThreadNotifications)
	jr.UnreadNotifications = &main
	jr.UnreadThreadNotifications = threads
}

// InvitedRoom is a room the user is invited to.
type InvitedRoom struct {
	InviteState struct {
		Events []clientevent.StrippedState `json:"events"`
	} `json:"invite_state"`
}

// KnockedRoom is a room the user has knocked on.
type KnockedRoom struct {
	KnockState struct {
		Events []clientevent.StrippedState `json:"events"`
	} `json:"knock_state"`
}

// LeftRoom is a room the user has left or was removed from.
type LeftRoom struct {
	State              StateBatch    `json:"state,omitzero"`
	StateAfter         *StateBatch   `json:"state_after,omitempty"`
	UnstableStateAfter *StateBatch   `json:"org.matrix.msc4222.state_after,omitempty"`
	Timeline           TimelineBatch `json:"timeline"`
	AccountData        EventBatch    `json:"account_data"`
}

// moveStateAfter answers a use_state_after request: each room's state,
// computed up to the end of its timeline, goes to state_after (under
// MSC4222's name when unstable) and state is left out.
func (r *Response) moveStateAfter(unstable bool) {
	if r.Rooms == nil {
		return
	}
	move := func(state *StateBatch) *StateBatch {
		after := *state
		if after.Events == nil {
			after.Events = []clientevent.Event{}
		}
		*state = StateBatch{}
		return &after
	}
	for _, jr := range r.Rooms.Join {
		if unstable {
			jr.UnstableStateAfter = move(&jr.State)
		} else {
			jr.StateAfter = move(&jr.State)
		}
	}
	for _, lr := range r.Rooms.Leave {
		if unstable {
			lr.UnstableStateAfter = move(&lr.State)
		} else {
			lr.StateAfter = move(&lr.State)
		}
	}
}
