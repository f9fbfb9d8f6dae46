// Package roomversion describes every room version Hafen knows as a table of
// rule flags, so that the rest of the protocol core branches on a named
// property ("does this version have integer-only power levels?") and never on
// a version string.
//
// Spec: https://spec.matrix.org/v1.19/rooms/
//
// The package is part of the pure protocol core: it does no I/O.
package roomversion

// ID is a room version identifier as it appears in m.room.create content and
// on the wire, for example "12".
type ID string

// EventIDFormat says how a room version's event IDs are formed.
type EventIDFormat int

const (
	// EventIDServerAssigned is the v1/v2 format: "$localpart:server", chosen
	// by the origin server and carried in the event's event_id field.
	EventIDServerAssigned EventIDFormat = iota + 1
	// EventIDBase64 is the v3 format: "$" + standard unpadded base64 of the
	// reference hash.
	EventIDBase64
	// EventIDURLSafeBase64 is the v4+ format: "$" + URL-safe unpadded base64 of
	// the reference hash.
	EventIDURLSafeBase64
)

// StateResAlgorithm names a state resolution algorithm.
type StateResAlgorithm int

const (
	// StateResV1 is the original algorithm of room version 1.
	StateResV1 StateResAlgorithm = iota + 1
	// StateResV2 is state resolution v2 (rooms v2–v11).
	StateResV2
	// StateResV2_1 is state resolution v2.1 (room v12, MSC4297): the
	// conflicted state subgraph is added to the full conflicted set and
	// iterative auth checks start from the empty state.
	StateResV2_1
)

// RedactionAlgorithm names a redaction algorithm.
type RedactionAlgorithm int

const (
	// RedactionV1 is the algorithm of rooms v1–v5 (m.room.aliases keeps
	// "aliases").
	RedactionV1 RedactionAlgorithm = iota + 1
	// RedactionV6 drops the special meaning of m.room.aliases (rooms v6, v7).
	RedactionV6
	// RedactionV8 additionally keeps "allow" in m.room.join_rules (room v8).
	RedactionV8
	// RedactionV9 additionally keeps join_authorised_via_users_server in
	// m.room.member content (rooms v9, v10).
	RedactionV9
	// RedactionV11 is the clarified algorithm of rooms v11 and v12.
	RedactionV11
)

// Version is the complete rule set of one room version. Values are immutable;
// obtain them with Lookup or the package-level variables.
type Version struct {
	// ID is the version identifier.
	ID ID
	// Stable reports whether the spec lists the version as stable.
	Stable bool

	// EventIDFormat is how event IDs are formed.
	EventIDFormat EventIDFormat
	// StateRes is the state resolution algorithm.
	StateRes StateResAlgorithm
	// Redaction is the redaction algorithm.
	Redaction RedactionAlgorithm

	// EventIDInEvent reports whether PDUs carry an event_id field and
	// prev_events/auth_events as [event_id, {hashes}] pairs (v1, v2).
	EventIDInEvent bool
	// SpecialCaseAliasesAuth reports whether the auth rules have the
	// m.room.aliases rule (rule 4 of v1–v5, removed in v6).
	SpecialCaseAliasesAuth bool
	// RedactionsCheckedAtAuth reports whether the auth rules check that an
	// m.room.redaction's sender domain matches the redacted event (v1, v2);
	// from v3 on this check moves to the point where the redaction is
	// applied.
	RedactionsCheckedAtAuth bool
	// EnforceKeyValidity reports whether signing keys must be valid at the
	// event's origin_server_ts (v5+).
	EnforceKeyValidity bool
	// StrictCanonicalJSON reports whether events must be strict canonical
	// JSON: integers only, within ±(2^53−1) (v6+).
	StrictCanonicalJSON bool
	// NotificationsPowerLevel reports whether the "notifications" key of
	// m.room.power_levels is checked by the auth rules (v6+).
	NotificationsPowerLevel bool
	// Knocking reports whether the "knock" join rule and membership exist (v7+).
	Knocking bool
	// RestrictedJoins reports whether the "restricted" join rule and
	// join_authorised_via_users_server exist (v8+).
	RestrictedJoins bool
	// KnockRestricted reports whether the "knock_restricted" join rule exists
	// (v10+).
	KnockRestricted bool
	// IntegerPowerLevels reports whether power level values must be JSON
	// integers; earlier versions also accept strings holding integers (v10+).
	IntegerPowerLevels bool
	// CreatorFromSender reports whether the room creator is the create
	// event's sender and content.creator no longer exists (v11+).
	CreatorFromSender bool
	// RedactsInContent reports whether m.room.redaction carries redacts in
	// content rather than at the top level (v11+).
	RedactsInContent bool
	// RoomIDFromCreateEvent reports whether the room ID is "!" + the create
	// event's reference hash and the create event has no room_id (v12+,
	// MSC4291). Such create events are also never listed in auth_events.
	RoomIDFromCreateEvent bool
	// PrivilegedCreators reports whether the create event's sender and
	// content.additional_creators have unlimited power and may not appear in
	// m.room.power_levels users (v12+, MSC4289).
	PrivilegedCreators bool
}

// Known room versions.
var (
	V1 = &Version{ID: "1", Stable: true, EventIDFormat: EventIDServerAssigned, StateRes: StateResV1, Redaction: RedactionV1,
		EventIDInEvent: true, SpecialCaseAliasesAuth: true, RedactionsCheckedAtAuth: true}
	V2 = &Version{ID: "2", Stable: true, EventIDFormat: EventIDServerAssigned, StateRes: StateResV2, Redaction: RedactionV1,
		EventIDInEvent: true, SpecialCaseAliasesAuth: true, RedactionsCheckedAtAuth: true}
	V3 = &Version{ID: "3", Stable: true, EventIDFormat: EventIDBase64, StateRes: StateResV2, Redaction: RedactionV1,
		SpecialCaseAliasesAuth: true}
	V4 = &Version{ID: "4", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV1,
		SpecialCaseAliasesAuth: true}
	V5 = &Version{ID: "5", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV1,
		SpecialCaseAliasesAuth: true, EnforceKeyValidity: true}
	V6 = &Version{ID: "6", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV6,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true}
	V7 = &Version{ID: "7", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV6,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true, Knocking: true}
	V8 = &Version{ID: "8", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV8,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true, Knocking: true,
		RestrictedJoins: true}
	V9 = &Version{ID: "9", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV9,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true, Knocking: true,
		RestrictedJoins: true}
	V10 = &Version{ID: "10", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV9,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true, Knocking: true,
		RestrictedJoins: true, KnockRestricted: true, IntegerPowerLevels: true}
	V11 = &Version{ID: "11", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2, Redaction: RedactionV11,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true, Knocking: true,
		RestrictedJoins: true, KnockRestricted: true, IntegerPowerLevels: true, CreatorFromSender: true,
		RedactsInContent: true}
	V12 = &Version{ID: "12", Stable: true, EventIDFormat: EventIDURLSafeBase64, StateRes: StateResV2_1, Redaction: RedactionV11,
		EnforceKeyValidity: true, StrictCanonicalJSON: true, NotificationsPowerLevel: true, Knocking: true,
		RestrictedJoins: true, KnockRestricted: true, IntegerPowerLevels: true, CreatorFromSender: true,
		RedactsInContent: true, RoomIDFromCreateEvent: true, PrivilegedCreators: true}
)

// Default is the version used for new rooms, as the spec recommends.
var Default = V12

var all = []*Version{V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12}

// Lookup returns the version with the given ID, or false if Hafen does not
// support it.
func Lookup(id ID) (*Version, bool) {
	for _, v := range all {
		if v.ID == id {
			return v, true
		}
	}
	return nil, false
}

// All returns every supported version, oldest first. The slice is a copy.
func All() []*Version {
	return append([]*Version(nil), all...)
}

// ValidID reports whether s follows the room version grammar: 1 to 32
// characters from a-z, 0-9, "." and "-".
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
