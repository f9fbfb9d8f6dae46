package stateres

// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroompower_levels
// Spec: https://spec.matrix.org/v1.19/rooms/v1/#mroompower_levels-events-accept-values-as-floats
// Spec: https://spec.matrix.org/v1.19/rooms/v10/#values-in-mroompower_levels-events-must-be-integers
// Spec: https://spec.matrix.org/v1.19/rooms/v12/#room-creators

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/core/event"
	"github.com/hafenchat/hafen/core/id"
	"github.com/hafenchat/hafen/core/roomversion"
)

const (
	typeCreate      = "m.room.create"
	typePowerLevels = "m.room.power_levels"
	typeJoinRules   = "m.room.join_rules"
	typeMember      = "m.room.member"
)

var (
	keyCreate      = event.StateKey{Type: typeCreate}
	keyPowerLevels = event.StateKey{Type: typePowerLevels}
)

// infinitePower is the power level of a room creator in rooms with
// privileged creators (v12+): greater than any level an event can carry.
const infinitePower = math.MaxInt64

// creatorDefaultPower is the power level of the room creator when the room
// has no m.room.power_levels event (before v12).
const creatorDefaultPower = 100

// senderLevels is the part of an m.room.power_levels event that gives users
// their power level, parsed once per event and resolution.
type senderLevels struct {
	users        map[string]int64
	usersDefault int64
}

// level returns the power level the event gives user.
func (pl *senderLevels) level(user id.UserID) int64 {
	if l, ok := pl.users[string(user)]; ok {
		return l
	}
	return pl.usersDefault
}

// parseSenderLevels reads users and users_default from power levels
// content. A value that is not a valid power level for the room version is
// treated as absent, and malformed content as empty content, so that sorting
// never fails: the auth rules, not the sort, reject malformed events.
func parseSenderLevels(v *roomversion.Version, content json.RawMessage) *senderLevels {
	var c struct {
		Users        map[string]json.RawMessage `json:"users"`
		UsersDefault json.RawMessage            `json:"users_default"`
	}
	pl := &senderLevels{}
	if json.Unmarshal(content, &c) != nil {
		return pl
	}
	if d, ok := parsePowerValue(v, c.UsersDefault); ok {
		pl.usersDefault = d
	}
	if len(c.Users) > 0 {
		pl.users = make(map[string]int64, len(c.Users))
		for u, raw := range c.Users {
			if l, ok := parsePowerValue(v, raw); ok {
				pl.users[u] = l
			}
		}
	}
	return pl
}

// parsePowerValue reads one power level value: a JSON integer; before v10
// also a string holding an integer; before v6 also a float, truncated.
func parsePowerValue(v *roomversion.Version, raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	switch c := raw[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return n, true
		}
		if v.StrictCanonicalJSON {
			return 0, false
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
			return 0, false
		}
		return int64(f), true
	case c == '"':
		if v.IntegerPowerLevels {
			return 0, false
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		return parseStringyPower(s)
	}
	return 0, false
}

// parseStringyPower parses the string form of a power level of rooms v1–v9:
// optional surrounding whitespace, an optional sign, then decimal digits.
func parseStringyPower(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	digits := s
	if digits[0] == '+' || digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// creatorSet is the set of room creators named by a create event.
type creatorSet []id.UserID

func (cs creatorSet) has(u id.UserID) bool {
	for _, c := range cs {
		if c == u {
			return true
		}
	}
	return false
}

// parseCreators returns the room creators of a create event: its sender
// from v11 on (CreatorFromSender), content.creator before, plus
// content.additional_creators in rooms with privileged creators (v12+).
func parseCreators(v *roomversion.Version, create *event.PDU) creatorSet {
	var c struct {
		Creator            string            `json:"creator"`
		AdditionalCreators []json.RawMessage `json:"additional_creators"`
	}
	_ = json.Unmarshal(create.Content(), &c) // malformed content names no extra creators
	var cs creatorSet
	if v.CreatorFromSender {
		cs = append(cs, create.Sender())
	} else if c.Creator != "" {
		cs = append(cs, id.UserID(c.Creator))
	}
	if v.PrivilegedCreators {
		for _, raw := range c.AdditionalCreators {
			var u string
			if json.Unmarshal(raw, &u) == nil {
				cs = append(cs, id.UserID(u))
			}
		}
	}
	return cs
}
