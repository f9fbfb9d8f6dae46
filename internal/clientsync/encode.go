package clientsync

// Spec: Client-Server API § Syncing (the body of a /sync answer)
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3sync

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// AppendJSON appends the JSON encoding of r to b: the same JSON as
// encoding/json writes (but for events' content, copied as stored, which
// encoding/json would compact and HTML-escape), built without
// encoding/json's second pass over what is already encoded:
// encoding/json checks and compacts every json.RawMessage and every
// MarshalJSON result again at each level of nesting. In a busy room each
// answer carries an m.receipt event with a receipt of every member, and
// that pass cost more than building the answer.
func (r *Response) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"next_batch":`...)
	b = appendJSONString(b, r.NextBatch)
	var err error
	if r.Rooms != nil {
		b = append(b, `,"rooms":`...)
		if b, err = r.Rooms.appendJSON(b); err != nil {
			return nil, err
		}
	}
	if r.AccountData != nil {
		if b, err = appendField(b, false, "account_data", r.AccountData); err != nil {
			return nil, err
		}
	}
	if r.Presence != nil {
		if b, err = appendField(b, false, "presence", r.Presence); err != nil {
			return nil, err
		}
	}
	// The end-to-end encryption sections are fields of the response
	// itself (an embedded struct).
	e2ee, err := json.Marshal(r.E2EESections)
	if err != nil {
		return nil, fmt.Errorf("encode sync end-to-end encryption sections: %w", err)
	}
	if len(e2ee) > len("{}") {
		b = append(b, ',')
		b = append(b, e2ee[1:len(e2ee)-1]...)
	}
	return append(b, '}'), nil
}

// appendField appends `"name":` and v encoded by encoding/json, preceded
// by a comma unless first.
func appendField(b []byte, first bool, name string, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode sync %s: %w", name, err)
	}
	return append(appendKey(b, first, name), data...), nil
}

// appendKey appends `"name":`, preceded by a comma unless first.
func appendKey(b []byte, first bool, name string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = appendJSONString(b, name)
	return append(b, ':')
}

func (rs *Rooms) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	var err error
	if len(rs.Join) > 0 {
		b = appendKey(b, first, "join")
		first = false
		b = append(b, '{')
		// encoding/json writes a map's keys sorted.
		for i, room := range slices.Sorted(maps.Keys(rs.Join)) {
			b = appendKey(b, i == 0, room)
			if b, err = rs.Join[room].appendJSON(b); err != nil {
				return nil, fmt.Errorf("encode sync room %s: %w", room, err)
			}
		}
		b = append(b, '}')
	}
	if len(rs.Invite) > 0 {
		if b, err = appendField(b, first, "invite", rs.Invite); err != nil {
			return nil, err
		}
		first = false
	}
	if len(rs.Knock) > 0 {
		if b, err = appendField(b, first, "knock", rs.Knock); err != nil {
			return nil, err
		}
		first = false
	}
	if len(rs.Leave) > 0 {
		if b, err = appendField(b, first, "leave", rs.Leave); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends the room as encoding/json would write it, fields in
// the order of JoinedRoom's.
func (jr *JoinedRoom) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	var err error
	if jr.Summary != nil {
		if b, err = appendField(b, first, "summary", jr.Summary); err != nil {
			return nil, err
		}
		first = false
	}
	if !jr.State.IsZero() {
		b = appendKey(b, first, "state")
		first = false
		if b, err = jr.State.appendJSON(b); err != nil {
			return nil, err
		}
	}
	if jr.StateAfter != nil {
		b = appendKey(b, first, "state_after")
		first = false
		if b, err = jr.StateAfter.appendJSON(b); err != nil {
			return nil, err
		}
	}
	if jr.UnstableStateAfter != nil {
		b = appendKey(b, first, "org.matrix.msc4222.state_after")
		first = false
		if b, err = jr.UnstableStateAfter.appendJSON(b); err != nil {
			return nil, err
		}
	}
	b = appendKey(b, first, "timeline")
	if b, err = jr.Timeline.appendJSON(b); err != nil {
		return nil, err
	}
	// Ephemeral events are made by this server (m.receipt, m.typing),
	// compact and valid already.
	b = append(b, `,"ephemeral":{"events":`...)
	if jr.Ephemeral.Events == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, ev := range jr.Ephemeral.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, ev...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	if b, err = appendField(b, false, "account_data", jr.AccountData); err != nil {
		return nil, err
	}
	if jr.UnreadNotifications != nil {
		b = appendKey(b, false, "unread_notifications")
		b = appendUnread(b, *jr.UnreadNotifications)
	}
	if len(jr.UnreadThreadNotifications) > 0 {
		b = appendKey(b, false, "unread_thread_notifications")
		b = append(b, '{')
		for i, root := range slices.Sorted(maps.Keys(jr.UnreadThreadNotifications)) {
			b = appendKey(b, i == 0, root)
			b = appendUnread(b, jr.UnreadThreadNotifications[root])
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendUnread appends notification counts.
func appendUnread(b []byte, u UnreadNotifications) []byte {
	b = append(b, `{"highlight_count":`...)
	b = strconv.AppendInt(b, int64(u.HighlightCount), 10)
	b = append(b, `,"notification_count":`...)
	b = strconv.AppendInt(b, int64(u.NotificationCount), 10)
	return append(b, '}')
}
