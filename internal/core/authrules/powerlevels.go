package authrules

// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroompower_levels
// and https://spec.matrix.org/v1.19/rooms/v1/#mroompower_levels-events-accept-values-as-strings

import (
	"math"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Infinite is the power level of a room creator in room versions with
// privileged creators (v12): higher than any level a power_levels event can
// give.
const Infinite int64 = math.MaxInt64

// Default levels from the m.room.power_levels definition.
const (
	defaultBan           = 50
	defaultKick          = 50
	defaultRedact        = 50
	defaultInvite        = 0
	defaultUsersDefault  = 0
	defaultEventsDefault = 0
	defaultStateDefault  = 50
	defaultNotifyRoom    = 50
	// defaultCreatorLevel is the creator's level in v1–v11 when the room has
	// no m.room.power_levels event.
	defaultCreatorLevel = 100
)

// The integer-valued top-level properties of m.room.power_levels, in the
// order of the spec's rules.
const (
	fieldUsersDefault = iota
	fieldEventsDefault
	fieldStateDefault
	fieldBan
	fieldRedact
	fieldKick
	fieldInvite
	numFields
)

var fieldNames = [numFields]string{"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"}

var fieldDefaults = [numFields]int64{defaultUsersDefault, defaultEventsDefault, defaultStateDefault, defaultBan, defaultRedact, defaultKick, defaultInvite}

// PowerLevels is the parsed content of an m.room.power_levels event (or the
// defaults of a room without one), with the room's creators. The users,
// events and notifications objects are kept as JSON and looked up on demand,
// so reading two users' levels costs no map.
//
// Values are read as the room version allows: integers; before v10 also
// strings holding an integer; before v6 also numbers with a fraction or
// exponent, truncated. A value that cannot be read is treated as absent
// (see ParsePowerLevels for the strict check an m.room.power_levels event
// must pass to be accepted).
type PowerLevels struct {
	v        *roomversion.Version
	exists   bool
	fields   [numFields]int64
	present  [numFields]bool
	users    []byte
	events   []byte
	notify   []byte
	creators []id.UserID
}

// NewPowerLevels returns the power levels given by the m.room.power_levels
// event pl (nil if the room has none) in a room whose creators are creators
// (see Creators). Unreadable values are treated as absent, so it never
// fails.
func NewPowerLevels(v *roomversion.Version, pl *event.PDU, creators []id.UserID) *PowerLevels {
	p := &PowerLevels{v: v, creators: creators, fields: fieldDefaults}
	if pl == nil {
		return p
	}
	p.exists = true
	p.read(pl.Content())
	return p
}

func (p *PowerLevels) read(content []byte) {
	eachMember(content, func(k, val []byte) bool {
		key, ok := decodeKey(k)
		if !ok {
			return true
		}
		switch key {
		case "users":
			p.users = objectOrNil(val)
		case "events":
			p.events = objectOrNil(val)
		case "notifications":
			p.notify = objectOrNil(val)
		default:
			for f := range numFields {
				if key == fieldNames[f] {
					// NOTSPEC: before v10 only "users" is validated; an
					// unreadable value of another property is treated as
					// absent rather than failing every later check.
					if n, ok := parseLevel(p.v, val); ok {
						p.fields[f], p.present[f] = n, true
					} else {
						p.fields[f], p.present[f] = fieldDefaults[f], false
					}
				}
			}
		}
		return true
	})
}

func objectOrNil(val []byte) []byte {
	if isObject(val) {
		return val
	}
	return nil
}

// Exists reports whether the levels come from an m.room.power_levels event.
func (p *PowerLevels) Exists() bool { return p.exists }

// Ban returns the ban level.
func (p *PowerLevels) Ban() int64 { return p.fields[fieldBan] }

// Kick returns the kick level.
func (p *PowerLevels) Kick() int64 { return p.fields[fieldKick] }

// Redact returns the redact level.
func (p *PowerLevels) Redact() int64 { return p.fields[fieldRedact] }

// Invite returns the invite level.
func (p *PowerLevels) Invite() int64 { return p.fields[fieldInvite] }

// UsersDefault returns users_default.
func (p *PowerLevels) UsersDefault() int64 { return p.fields[fieldUsersDefault] }

// EventsDefault returns events_default.
func (p *PowerLevels) EventsDefault() int64 { return p.fields[fieldEventsDefault] }

// StateDefault returns state_default.
func (p *PowerLevels) StateDefault() int64 { return p.fields[fieldStateDefault] }

// IsCreator reports whether user is a room creator with unlimited power
// (only in versions with privileged creators).
func (p *PowerLevels) IsCreator(user id.UserID) bool {
	if !p.v.PrivilegedCreators {
		return false
	}
	for _, c := range p.creators {
		if c == user {
			return true
		}
	}
	return false
}

// UserLevel returns the power level of user: Infinite for a v12 creator,
// else the users entry, else users_default; without an m.room.power_levels
// event, 100 for the creator in v1–v11 and 0 for everyone else.
func (p *PowerLevels) UserLevel(user id.UserID) int64 {
	if p.IsCreator(user) {
		return Infinite
	}
	if !p.exists {
		if !p.v.PrivilegedCreators {
			for _, c := range p.creators {
				if c == user {
					return defaultCreatorLevel
				}
			}
		}
		return 0
	}
	if n, ok := lookupLevel(p.v, p.users, string(user)); ok {
		return n
	}
	return p.fields[fieldUsersDefault]
}

// EventLevel returns the level required to send an event of type typ: the
// events entry, else state_default for state events and events_default for
// other events.
func (p *PowerLevels) EventLevel(typ string, isState bool) int64 {
	if n, ok := lookupLevel(p.v, p.events, typ); ok {
		return n
	}
	if isState {
		return p.fields[fieldStateDefault]
	}
	return p.fields[fieldEventsDefault]
}

// NotificationLevel returns the level required to trigger the notification
// key (for example "room", which defaults to 50).
func (p *PowerLevels) NotificationLevel(key string) (int64, bool) {
	if n, ok := lookupLevel(p.v, p.notify, key); ok {
		return n, true
	}
	if key == "room" {
		return defaultNotifyRoom, true
	}
	return 0, false
}

// Users returns the users object as a map; unreadable entries are left out.
func (p *PowerLevels) Users() map[id.UserID]int64 {
	m := map[id.UserID]int64{}
	for k, v := range levelMap(p.v, p.users) {
		m[id.UserID(k)] = v
	}
	return m
}

// Events returns the events object as a map; unreadable entries are left out.
func (p *PowerLevels) Events() map[string]int64 { return levelMap(p.v, p.events) }

// Notifications returns the notifications object as a map; unreadable
// entries are left out.
func (p *PowerLevels) Notifications() map[string]int64 { return levelMap(p.v, p.notify) }

// lookupLevel returns the readable level stored under key in the JSON
// object obj.
func lookupLevel(v *roomversion.Version, obj []byte, key string) (int64, bool) {
	if obj == nil {
		return 0, false
	}
	val, ok := member(obj, key)
	if !ok {
		return 0, false
	}
	return parseLevel(v, val)
}

func levelMap(v *roomversion.Version, obj []byte) map[string]int64 {
	m := map[string]int64{}
	if obj == nil {
		return m
	}
	eachMember(obj, func(k, val []byte) bool {
		key, ok := decodeKey(k)
		if !ok {
			return true
		}
		if n, ok := parseLevel(v, val); ok {
			m[key] = n
		}
		return true
	})
	return m
}

// parseLevel reads one power level value as room version v allows.
func parseLevel(v *roomversion.Version, val []byte) (int64, bool) {
	if len(val) == 0 {
		return 0, false
	}
	switch c := val[0]; {
	case c == '"':
		// v1–v9: "m.room.power_levels events accept values as strings".
		if v.IntegerPowerLevels {
			return 0, false
		}
		s, ok := stringValue(val)
		if !ok {
			return 0, false
		}
		return parseStringyLevel(s)
	case c == '-' || c >= '0' && c <= '9':
		end, isInt, ok := scanNumber(val, 0)
		if !ok || end != len(val) {
			return 0, false
		}
		if isInt {
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				// NOTSPEC: integers beyond the int64 range (impossible
				// under strict canonical JSON, v6+) saturate.
				if val[0] == '-' {
					return math.MinInt64, true
				}
				return math.MaxInt64 - 1, true
			}
			return n, true
		}
		// v1–v5: "m.room.power_levels events accept values as floats":
		// truncate; values outside binary64 are invalid. From v6 on
		// canonical JSON has no such numbers.
		if v.StrictCanonicalJSON {
			return 0, false
		}
		f, err := strconv.ParseFloat(string(val), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
		return saturate(math.Trunc(f)), true
	}
	return 0, false
}

func saturate(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64 - 1
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// parseStringyLevel reads a power level written as a string: optional
// leading and trailing whitespace, an optional single "+" or "-", then one or
// more decimal digits (leading zeroes allowed).
func parseStringyLevel(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n int64
	overflow := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			overflow = true
			continue
		}
		n = n*10 + int64(c-'0')
	}
	if overflow {
		// NOTSPEC: see parseLevel.
		if neg {
			return math.MinInt64, true
		}
		return math.MaxInt64 - 1, true
	}
	if neg {
		n = -n
	}
	return n, true
}
