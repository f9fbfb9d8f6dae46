package authrules

import (
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// PowerLevelsError says which validity rule an m.room.power_levels content
// breaks; see ValidatePowerLevels.
type PowerLevelsError struct {
	// Rule is the sub-rule number within the m.room.power_levels rule.
	Rule   int
	Reason string
}

func (e *PowerLevelsError) Error() string { return "invalid power levels: " + e.Reason }

// ValidatePowerLevels checks the content of a new m.room.power_levels event
// against the validity rules of room version v: in every version the users
// property must be an object of valid user IDs to integers (strings holding
// integers before v10); from v10 on every other level must be an integer
// and events and notifications objects of integers; in v12 users must not
// name a creator (creators, see Creators). It returns nil or a
// *PowerLevelsError.
func ValidatePowerLevels(v *roomversion.Version, content []byte, creators []id.UserID) error {
	if !isObject(content) {
		return &PowerLevelsError{Rule: numPL(v, plUsers), Reason: "content is not an object"}
	}
	var bad *PowerLevelsError
	fail := func(r int, reason string) bool {
		bad = &PowerLevelsError{Rule: r, Reason: reason}
		return false
	}
	usersRule := numPL(v, plUsers)
	ok := eachMember(content, func(k, val []byte) bool {
		key, ok := decodeKey(k)
		if !ok {
			return true
		}
		switch key {
		case "users":
			// 9.3 (v10+; 9.1 v6–v9, 10.1 v1–v5, 10.3 v12): users must be an
			// object with keys that are valid user IDs and integer values.
			if !isObject(val) {
				return fail(usersRule, "users is not an object")
			}
			eachMember(val, func(uk, uv []byte) bool {
				u, ok := decodeKey(uk)
				if !ok || !ValidUserID(u) {
					return fail(usersRule, "users has an invalid user id")
				}
				if _, ok := parseLevel(v, uv); !ok {
					return fail(usersRule, "users has a non-integer level")
				}
				// 10.4 (v12): users must not contain a creator.
				if v.PrivilegedCreators {
					for _, c := range creators {
						if c == id.UserID(u) {
							bad = &PowerLevelsError{Rule: numPL(v, plCreators), Reason: "users names a room creator"}
							return false
						}
					}
				}
				return true
			})
			return bad == nil
		case "events", "notifications":
			// 9.2 (v10+): events and notifications must be objects with
			// integer values.
			if !v.IntegerPowerLevels {
				return true
			}
			if !isObject(val) {
				return fail(2, key+" is not an object")
			}
			eachMember(val, func(_, ev []byte) bool {
				if _, ok := parseLevel(v, ev); !ok {
					return fail(2, key+" has a non-integer level")
				}
				return true
			})
			return bad == nil
		default:
			// 9.1 (v10+): users_default, events_default, state_default,
			// ban, redact, kick and invite must be integers.
			if !v.IntegerPowerLevels {
				return true
			}
			for f := range numFields {
				if key == fieldNames[f] {
					if _, ok := parseLevel(v, val); !ok {
						bad = &PowerLevelsError{Rule: 1, Reason: key + " is not an integer"}
						return false
					}
				}
			}
			return true
		}
	})
	if bad != nil {
		return bad
	}
	if !ok {
		return &PowerLevelsError{Rule: numPL(v, plUsers), Reason: "content is not a JSON object"}
	}
	return nil
}

// checkPowerLevels applies rule 9 (v6–v11; 10 in v1–v5 and v12), "If type
// is m.room.power_levels". Sub-rules are numbered as in v10–v11 with the
// other versions' numbers where they differ.
func (c *checker) checkPowerLevels(senderLevel int64) error {
	v, e := c.v, c.e
	n := numPowerLevels(v)
	creators := Creators(c.create)

	// 9.1–9.3 (v10+), 9.1 (v1–v9), 10.4 (v12): validity.
	if err := ValidatePowerLevels(v, e.Content(), creators); err != nil {
		pe := err.(*PowerLevelsError)
		return reject(rule(n, pe.Rule), pe.Reason)
	}

	// 9.4 (v10+; 9.2 v1–v9; 10.5 v12): if there is no previous
	// m.room.power_levels event in the room, allow.
	old := c.state[event.StateKey{Type: TypePowerLevels}]
	if old == nil {
		return nil
	}
	cur := NewPowerLevels(v, old, creators)
	next := NewPowerLevels(v, e, creators)

	// 9.5 (v10+; 9.3 v1–v9): for each of users_default, events_default,
	// state_default, ban, redact, kick, invite that was added, changed or
	// removed: 9.5.1 if the current value is higher than the sender's
	// level, reject; 9.5.2 if the new value is higher, reject.
	for f := range numFields {
		if cur.present[f] == next.present[f] && cur.fields[f] == next.fields[f] {
			continue
		}
		if cur.present[f] && cur.fields[f] > senderLevel {
			return reject(rule(n, numPL(v, plScalars), 1), "sender may not change "+fieldNames[f])
		}
		if next.present[f] && next.fields[f] > senderLevel {
			return reject(rule(n, numPL(v, plScalars), 2), "sender may not raise "+fieldNames[f]+" above its own level")
		}
	}

	// 9.6 / 9.7 (v10+; 9.4 / 9.5 v1–v9; 10.4 / 10.5 before v6 without
	// notifications): events and (v6+) notifications entries.
	if err := checkLevelMapChange(n, v, levelMap(v, cur.events), levelMap(v, next.events), senderLevel); err != nil {
		return err
	}
	if v.NotificationsPowerLevel {
		if err := checkLevelMapChange(n, v, levelMap(v, cur.notify), levelMap(v, next.notify), senderLevel); err != nil {
			return err
		}
	}

	// 9.8 (v10+; 9.6 v1–v9): for each users entry changed or removed, other
	// than the sender's own: if the current value is at least the sender's
	// level, reject.
	oldUsers, newUsers := levelMap(v, cur.users), levelMap(v, next.users)
	for u, ov := range oldUsers {
		if u == string(e.Sender()) {
			continue
		}
		if nv, ok := newUsers[u]; ok && nv == ov {
			continue
		}
		if ov >= senderLevel {
			return reject(rule(n, numPL(v, plUsersRemoved), 1), "sender may not change the level of a user at or above its own")
		}
	}
	// 9.9 (v10+; 9.7 v1–v9): for each users entry added or changed: if the
	// new value is higher than the sender's level, reject.
	for u, nv := range newUsers {
		if ov, ok := oldUsers[u]; ok && ov == nv {
			continue
		}
		if nv > senderLevel {
			return reject(rule(n, numPL(v, plUsersAdded), 1), "sender may not give a level above its own")
		}
	}
	// 9.10 (v10+; 9.8 v1–v9): otherwise, allow.
	return nil
}

// checkLevelMapChange applies the events/notifications rules 9.6 and 9.7
// (v10+; 9.4 and 9.5 in v1–v9).
func checkLevelMapChange(n int, v *roomversion.Version, old, next map[string]int64, senderLevel int64) error {
	for k, ov := range old {
		if nv, ok := next[k]; ok && nv == ov {
			continue
		}
		if ov > senderLevel {
			return reject(rule(n, numPL(v, plEventsRemoved), 1), "sender may not change the level of "+k)
		}
	}
	for k, nv := range next {
		if ov, ok := old[k]; ok && ov == nv {
			continue
		}
		if nv > senderLevel {
			return reject(rule(n, numPL(v, plEventsAdded), 1), "sender may not raise the level of "+k+" above its own")
		}
	}
	return nil
}
