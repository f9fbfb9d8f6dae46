package authrules

import (
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// checkCreate applies rule 1 (v1+), "If type is m.room.create".
func (c *checker) checkCreate() error {
	v, e := c.v, c.e
	n := numCreate(v)

	// 1.1 (v1+): if it has any prev_events, reject.
	if len(e.PrevEvents()) > 0 {
		return reject(rule(n, 1), "create event has prev_events")
	}
	if v.RoomIDFromCreateEvent {
		// 1.2 (v12): if the event has a room_id, reject.
		if _, ok := member(e.JSON(), "room_id"); ok {
			return reject(rule(n, 2), "create event has a room_id")
		}
	} else if e.RoomID().Domain() != e.Sender().Domain() {
		// 1.2 (v1–v11): if the domain of the room_id does not match the
		// domain of the sender, reject.
		return reject(rule(n, 2), "room id domain is not the sender's domain")
	}

	content := e.Content()
	// 1.3 (v1+): if content.room_version is present and is not a
	// recognised version, reject.
	if rv, ok := member(content, contentKeyRoomVersion); ok {
		s, isString := stringValue(rv)
		if !isString {
			return reject(rule(n, 3), "room_version is not a string")
		}
		if _, known := roomversion.Lookup(roomversion.ID(s)); !known {
			return reject(rule(n, 3), "unknown room version")
		}
	}

	switch {
	case !v.CreatorFromSender:
		// 1.4 (v1–v10): if content has no creator property, reject.
		if _, ok := member(content, contentKeyCreator); !ok {
			return reject(rule(n, 4), "create event has no creator")
		}
	case v.PrivilegedCreators:
		// 1.4 (v12): if additional_creators is present and is not an array
		// of strings that are valid user IDs, reject.
		if ac, ok := member(content, contentKeyAddCreators); ok {
			if _, valid := parseUserIDArray(ac); !valid {
				return reject(rule(n, 4), "additional_creators is not an array of user ids")
			}
		}
	}
	// 1.5 (v1–v10, v12), 1.4 (v11): otherwise, allow.
	return nil
}

// parseUserIDArray reads a JSON array of user ID strings.
func parseUserIDArray(val []byte) ([]id.UserID, bool) {
	var out []id.UserID
	valid := true
	wellFormed := eachElement(val, func(el []byte) bool {
		s, ok := stringValue(el)
		if !ok || !ValidUserID(s) {
			valid = false
			return false
		}
		out = append(out, id.UserID(s))
		return true
	})
	if !wellFormed || !valid {
		return nil, false
	}
	return out, true
}

// Creators returns the creators of the room whose m.room.create event is
// create: content.creator in v1–v10; the sender in v11; the sender followed
// by content.additional_creators in v12. It returns nil for a nil event or
// an unreadable creator.
func Creators(create *event.PDU) []id.UserID {
	if create == nil {
		return nil
	}
	v := create.Version()
	if !v.CreatorFromSender {
		if s, ok := stringMember(create.Content(), contentKeyCreator); ok {
			return []id.UserID{id.UserID(s)}
		}
		return nil
	}
	out := []id.UserID{create.Sender()}
	if v.PrivilegedCreators {
		if ac, ok := member(create.Content(), contentKeyAddCreators); ok {
			if extra, ok := parseUserIDArray(ac); ok {
				out = append(out, extra...)
			}
		}
	}
	return out
}

// originalCreator is "the creator" of the first-join rule: content.creator
// in v1–v10, the create event's sender from v11 on (additional creators do
// not count).
func originalCreator(create *event.PDU) (id.UserID, bool) {
	if create.Version().CreatorFromSender {
		return create.Sender(), true
	}
	s, ok := stringMember(create.Content(), contentKeyCreator)
	return id.UserID(s), ok
}

// ValidUserID reports whether s is a valid user ID: the validation event
// parsing applies to sender (id.ParseUserID, which accepts historical
// localparts). The power levels users rule and the v12 additional_creators
// rule use it.
func ValidUserID(s string) bool {
	_, err := id.ParseUserID(s)
	return err == nil
}
