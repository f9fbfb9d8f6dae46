package clientsync

// Spec: Client-Server API § Filtering
// https://spec.matrix.org/v1.19/client-server-api/#filtering
// data/api/client-server/definitions/{event_filter,room_event_filter,sync_filter}.yaml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Limits on filters, so that a hostile filter cannot make sync expensive.
const (
	// DefaultTimelineLimit is the timeline limit when a filter sets none.
	DefaultTimelineLimit = 10
	// MaxTimelineLimit caps a filter's timeline limit.
	MaxTimelineLimit = 1000
	// maxFilterListLen caps each list in a filter.
	maxFilterListLen = 1000
)

// EventFilter is the spec's EventFilter.
type EventFilter struct {
	Limit      *int     `json:"limit,omitempty"`
	NotSenders []string `json:"not_senders,omitzero"`
	NotTypes   []string `json:"not_types,omitzero"`
	Senders    []string `json:"senders,omitzero"`
	Types      []string `json:"types,omitzero"`
}

// RoomEventFilter is the spec's RoomEventFilter.
type RoomEventFilter struct {
	EventFilter
	UnreadThreadNotifications bool     `json:"unread_thread_notifications,omitempty"`
	LazyLoadMembers           bool     `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers   bool     `json:"include_redundant_members,omitempty"`
	NotRooms                  []string `json:"not_rooms,omitzero"`
	Rooms                     []string `json:"rooms,omitzero"`
	ContainsURL               *bool    `json:"contains_url,omitempty"`
}

// RoomFilter is the "room" part of a sync filter.
type RoomFilter struct {
	NotRooms     []string         `json:"not_rooms,omitzero"`
	Rooms        []string         `json:"rooms,omitzero"`
	Ephemeral    *RoomEventFilter `json:"ephemeral,omitempty"`
	IncludeLeave bool             `json:"include_leave,omitempty"`
	State        *RoomEventFilter `json:"state,omitempty"`
	Timeline     *RoomEventFilter `json:"timeline,omitempty"`
	AccountData  *RoomEventFilter `json:"account_data,omitempty"`
}

// Filter is the spec's sync Filter, as stored by POST /user/{userId}/filter
// and accepted inline by /sync.
type Filter struct {
	EventFields []string     `json:"event_fields,omitzero"`
	EventFormat string       `json:"event_format,omitempty"`
	Presence    *EventFilter `json:"presence,omitempty"`
	AccountData *EventFilter `json:"account_data,omitempty"`
	Room        *RoomFilter  `json:"room,omitempty"`
}

// ParseFilter decodes and validates a filter definition.
func ParseFilter(data []byte) (*Filter, error) {
	var f Filter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode filter: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks the filter against the spec's constraints and Hafen's
// limits.
func (f *Filter) Validate() error {
	// NOTSPEC: "federation" is accepted, but sync still serves its
	// events in the client format; clients ask for the client format.
	switch f.EventFormat {
	case "", "client", "federation":
	default:
		return fmt.Errorf("event_format must be client or federation, not %q", f.EventFormat)
	}
	if len(f.EventFields) > maxFilterListLen {
		return errors.New("too many event_fields")
	}
	for _, ef := range []*EventFilter{f.Presence, f.AccountData} {
		if err := ef.validate(); err != nil {
			return err
		}
	}
	if r := f.Room; r != nil {
		if len(r.Rooms) > maxFilterListLen || len(r.NotRooms) > maxFilterListLen {
			return errors.New("too many rooms in room filter")
		}
		for _, rf := range []*RoomEventFilter{r.Ephemeral, r.State, r.Timeline, r.AccountData} {
			if err := rf.validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *EventFilter) validate() error {
	if f == nil {
		return nil
	}
	if f.Limit != nil && *f.Limit <= 0 {
		return errors.New("limit must be an integer greater than 0")
	}
	for _, l := range [][]string{f.NotSenders, f.NotTypes, f.Senders, f.Types} {
		if len(l) > maxFilterListLen {
			return errors.New("filter list too long")
		}
	}
	for _, l := range [][]string{f.NotSenders, f.Senders} {
		for _, u := range l {
			// The error wraps id.ErrInvalidUserID: M_INVALID_PARAM.
			if _, err := id.ParseCompliantUserID(u); err != nil {
				return fmt.Errorf("senders and not_senders: %w", err)
			}
		}
	}
	return nil
}

func (f *RoomEventFilter) validate() error {
	if f == nil {
		return nil
	}
	if len(f.Rooms) > maxFilterListLen || len(f.NotRooms) > maxFilterListLen {
		return errors.New("too many rooms in room event filter")
	}
	return f.EventFilter.validate()
}

// MatchEvent reports whether an event of the given type and sender passes
// the filter. A nil filter matches everything.
func (f *EventFilter) MatchEvent(typ, sender string) bool {
	if f == nil {
		return true
	}
	for _, s := range f.NotSenders {
		if s == sender {
			return false
		}
	}
	for _, p := range f.NotTypes {
		if matchType(p, typ) {
			return false
		}
	}
	if f.Senders != nil && !contains(f.Senders, sender) {
		return false
	}
	if f.Types != nil {
		for _, p := range f.Types {
			if matchType(p, typ) {
				return true
			}
		}
		return false
	}
	return true
}

// MatchRoom reports whether a room passes the filter's rooms/not_rooms.
func (f *RoomEventFilter) MatchRoom(roomID string) bool {
	if f == nil {
		return true
	}
	return matchRoom(f.Rooms, f.NotRooms, roomID)
}

// MatchEvent reports whether an event passes the filter. content may be nil
// when contains_url is not set.
func (f *RoomEventFilter) MatchEvent(roomID, typ, sender string, content json.RawMessage) bool {
	if f == nil {
		return true
	}
	if !f.MatchRoom(roomID) || !f.EventFilter.MatchEvent(typ, sender) {
		return false
	}
	if f.ContainsURL != nil {
		var c struct {
			URL json.RawMessage `json:"url"`
		}
		_ = json.Unmarshal(content, &c) // content that is no object has no url
		if (c.URL != nil) != *f.ContainsURL {
			return false
		}
	}
	return true
}

// LimitOr returns the filter's limit clamped to [1, max], or def when the
// filter sets none.
func (f *EventFilter) LimitOr(def, max int) int {
	if f == nil || f.Limit == nil {
		return def
	}
	if *f.Limit > max {
		return max
	}
	return *f.Limit
}

// MatchRoom reports whether a room passes the sync filter's room-level
// rooms/not_rooms lists.
func (f *RoomFilter) MatchRoom(roomID string) bool {
	if f == nil {
		return true
	}
	return matchRoom(f.Rooms, f.NotRooms, roomID)
}

func matchRoom(rooms, notRooms []string, roomID string) bool {
	if contains(notRooms, roomID) {
		return false
	}
	return rooms == nil || contains(rooms, roomID)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matchType matches an event type against a filter pattern in which "*"
// stands for any sequence of characters.
func matchType(pattern, typ string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == typ
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(typ, parts[0]) {
		return false
	}
	typ = typ[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(typ, p)
		if i < 0 {
			return false
		}
		typ = typ[i+len(p):]
	}
	return strings.HasSuffix(typ, last)
}

// StoredFilter loads and parses a filter the user stored earlier with
// POST /user/{userId}/filter. It returns an error wrapping
// store.ErrNotFound for an unknown ID.
func (s *Service) StoredFilter(ctx context.Context, user id.UserID, filterID int64) (*Filter, error) {
	raw, err := s.db.Filter(ctx, user, filterID)
	if err != nil {
		return nil, err
	}
	return ParseFilter(raw)
}
