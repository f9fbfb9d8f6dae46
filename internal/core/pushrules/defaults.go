package pushrules

// Spec: Client-Server API § Predefined Rules
// https://spec.matrix.org/v1.19/client-server-api/#predefined-rules

import "encoding/json"

func str(s string) *string { return &s }

// Actions of the predefined rules.
var (
	actNotify          = json.RawMessage(`"notify"`)
	actSoundDefault    = json.RawMessage(`{"set_tweak":"sound","value":"default"}`)
	actSoundRing       = json.RawMessage(`{"set_tweak":"sound","value":"ring"}`)
	actHighlight       = json.RawMessage(`{"set_tweak":"highlight"}`)
	actsNone           = []json.RawMessage{}
	actsNotifyDefault  = []json.RawMessage{actNotify, actSoundDefault}
	actsNotifyHigh     = []json.RawMessage{actNotify, actHighlight}
	actsNotifyHighSnd  = []json.RawMessage{actNotify, actSoundDefault, actHighlight}
	actsNotifyRing     = []json.RawMessage{actNotify, actSoundRing}
	actsNotifyOnly     = []json.RawMessage{actNotify}
	condTypeIs         = func(typ string) Condition { return Condition{Kind: CondEventMatch, Key: "type", Pattern: str(typ)} }
	condEmptyStateKey  = Condition{Kind: CondEventMatch, Key: "state_key", Pattern: str("")}
	condMemberCountTwo = Condition{Kind: CondRoomMemberCount, Is: "2"}
)

// Master is the ID of .m.rule.master, the one predefined rule that comes
// before the user's own override rules.
const Master = ".m.rule.master"

// Defaults returns the server-default rules of spec v1.19 for user, each
// kind in its order of priority. The legacy rules that looked for the
// user's name in the body were removed from the spec in v1.17 and are not
// among them.
func Defaults(user string) Ruleset {
	return Ruleset{
		Override: []Rule{
			{RuleID: Master, Default: true, Enabled: false, Conditions: []Condition{}, Actions: actsNone},
			{RuleID: ".m.rule.suppress_notices", Default: true, Enabled: true, Actions: actsNone,
				Conditions: []Condition{{Kind: CondEventMatch, Key: "content.msgtype", Pattern: str("m.notice")}}},
			{RuleID: ".m.rule.invite_for_me", Default: true, Enabled: true, Actions: actsNotifyDefault,
				Conditions: []Condition{condTypeIs("m.room.member"),
					{Kind: CondEventMatch, Key: "content.membership", Pattern: str("invite")},
					{Kind: CondEventMatch, Key: "state_key", Pattern: str(user)}}},
			{RuleID: ".m.rule.member_event", Default: true, Enabled: true, Actions: actsNone,
				Conditions: []Condition{condTypeIs("m.room.member")}},
			{RuleID: ".m.rule.is_user_mention", Default: true, Enabled: true, Actions: actsNotifyHighSnd,
				Conditions: []Condition{{Kind: CondEventPropertyContains, Key: `content.m\.mentions.user_ids`, Value: mustJSON(user)}}},
			{RuleID: ".m.rule.is_room_mention", Default: true, Enabled: true, Actions: actsNotifyHigh,
				Conditions: []Condition{{Kind: CondEventPropertyIs, Key: `content.m\.mentions.room`, Value: json.RawMessage(`true`)},
					{Kind: CondSenderNotificationPermission, Key: "room"}}},
			{RuleID: ".m.rule.tombstone", Default: true, Enabled: true, Actions: actsNotifyHigh,
				Conditions: []Condition{condTypeIs("m.room.tombstone"), condEmptyStateKey}},
			{RuleID: ".m.rule.reaction", Default: true, Enabled: true, Actions: actsNone,
				Conditions: []Condition{condTypeIs("m.reaction")}},
			{RuleID: ".m.rule.room.server_acl", Default: true, Enabled: true, Actions: actsNone,
				Conditions: []Condition{condTypeIs("m.room.server_acl"), condEmptyStateKey}},
			{RuleID: ".m.rule.suppress_edits", Default: true, Enabled: true, Actions: actsNone,
				Conditions: []Condition{{Kind: CondEventPropertyIs, Key: `content.m\.relates_to.rel_type`, Value: mustJSON("m.replace")}}},
		},
		Content: []Rule{},
		Room:    []Rule{},
		Sender:  []Rule{},
		Underride: []Rule{
			{RuleID: ".m.rule.call", Default: true, Enabled: true, Actions: actsNotifyRing,
				Conditions: []Condition{condTypeIs("m.call.invite")}},
			{RuleID: ".m.rule.encrypted_room_one_to_one", Default: true, Enabled: true, Actions: actsNotifyDefault,
				Conditions: []Condition{condMemberCountTwo, condTypeIs("m.room.encrypted")}},
			{RuleID: ".m.rule.room_one_to_one", Default: true, Enabled: true, Actions: actsNotifyDefault,
				Conditions: []Condition{condMemberCountTwo, condTypeIs("m.room.message")}},
			{RuleID: ".m.rule.message", Default: true, Enabled: true, Actions: actsNotifyOnly,
				Conditions: []Condition{condTypeIs("m.room.message")}},
			{RuleID: ".m.rule.encrypted", Default: true, Enabled: true, Actions: actsNotifyOnly,
				Conditions: []Condition{condTypeIs("m.room.encrypted")}},
		},
	}
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
