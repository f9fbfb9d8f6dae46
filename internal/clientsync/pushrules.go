package clientsync

// Spec: Client-Server API § Push Rules, § Predefined Rules
// https://spec.matrix.org/v1.19/client-server-api/#predefined-rules

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

// pushContent is the part of an event's content the default push rules
// look at. Values are kept raw, since a rule matches only values of the
// right JSON type.
type pushContent struct {
	MsgType   json.RawMessage `json:"msgtype"`
	Body      json.RawMessage `json:"body"`
	Mentions  json.RawMessage `json:"m.mentions"`
	RelatesTo json.RawMessage `json:"m.relates_to"`
}

// pushEvent is an event prepared for the default push rules: its content is
// read once, however many users the rules are then evaluated for.
type pushEvent struct {
	ev          *event.PDU
	msgType     string
	body        string
	hasBody     bool
	hasMention  bool // content has m.mentions
	userIDs     json.RawMessage
	roomMention bool
	isEdit      bool
	membership  string

	mayNotifyRoom func(*event.PDU) bool
	roomChecked   bool
	roomAllowed   bool
}

// newPushEvent reads what the default push rules need from ev.
// mayNotifyRoom reports whether the event's sender holds the
// notifications.room level; it is asked at most once.
func newPushEvent(ev *event.PDU, mayNotifyRoom func(*event.PDU) bool) *pushEvent {
	pe := &pushEvent{ev: ev, mayNotifyRoom: mayNotifyRoom}
	var c pushContent
	_ = json.Unmarshal(ev.Content(), &c) // content that is no object matches no content condition
	pe.msgType, _ = jsonString(c.MsgType)
	pe.body, pe.hasBody = jsonString(c.Body)
	if c.Mentions != nil {
		pe.hasMention = true
		var mentions struct {
			UserIDs json.RawMessage `json:"user_ids"`
			Room    json.RawMessage `json:"room"`
		}
		_ = json.Unmarshal(c.Mentions, &mentions) // no object: no mentions
		pe.userIDs = mentions.UserIDs
		pe.roomMention = bytes.Equal(bytes.TrimSpace(mentions.Room), []byte("true"))
	}
	if c.RelatesTo != nil {
		var rel struct {
			RelType json.RawMessage `json:"rel_type"`
		}
		_ = json.Unmarshal(c.RelatesTo, &rel) // no object: no relation
		rt, _ := jsonString(rel.RelType)
		pe.isEdit = rt == "m.replace"
	}
	if ev.Type() == "m.room.member" {
		pe.membership = authrules.Membership(ev.Content())
	}
	return pe
}

// senderMayNotifyRoom asks, once per event, whether the sender may mention
// the whole room.
func (pe *pushEvent) senderMayNotifyRoom() bool {
	if !pe.roomChecked {
		pe.roomChecked = true
		pe.roomAllowed = pe.mayNotifyRoom(pe.ev)
	}
	return pe.roomAllowed
}

// defaultPushActions evaluates the server-default push rules, in their
// order (override, content, underride), for an event sent by someone other
// than user: whether it notifies the user, and whether it highlights.
// displayName is the user's display name in the room. Rules that only
// change the sound are not distinguished.
func defaultPushActions(pe *pushEvent, user id.UserID, displayName string) (notify, highlight bool) {
	typ := pe.ev.Type()
	sk, isState := pe.ev.StateKey()

	// Override rules.
	// .m.rule.master is disabled by default.
	// .m.rule.suppress_notices
	if pe.msgType == "m.notice" {
		return false, false
	}
	if typ == "m.room.member" {
		// .m.rule.invite_for_me, then .m.rule.member_event.
		return isState && sk == string(user) && pe.membership == "invite", false
	}
	// .m.rule.is_user_mention
	if containsString(pe.userIDs, string(user)) {
		return true, true
	}
	// NOTSPEC: the legacy rules .m.rule.contains_display_name and
	// .m.rule.contains_user_name were removed in v1.17; Hafen keeps them
	// for events without m.mentions, which clients that predate
	// intentional mentions still send.
	legacy := !pe.hasMention && pe.hasBody
	if legacy && displayName != "" && containsWord(pe.body, displayName) {
		return true, true
	}
	// .m.rule.is_room_mention
	if pe.roomMention && pe.senderMayNotifyRoom() {
		return true, true
	}
	// .m.rule.tombstone
	if typ == "m.room.tombstone" && isState && sk == "" {
		return true, true
	}
	// .m.rule.reaction and .m.rule.room.server_acl
	if typ == "m.reaction" || typ == "m.room.server_acl" && isState && sk == "" {
		return false, false
	}
	// .m.rule.suppress_edits
	if pe.isEdit {
		return false, false
	}

	// Content rules: the legacy .m.rule.contains_user_name (see above).
	if legacy && containsWord(pe.body, user.Localpart()) {
		return true, true
	}

	// Underride rules: .m.rule.call, .m.rule.encrypted_room_one_to_one,
	// .m.rule.room_one_to_one, .m.rule.message, .m.rule.encrypted.
	switch typ {
	case "m.call.invite", "m.room.message", "m.room.encrypted":
		return true, false
	}
	return false, false
}

// senderMayNotifyRoom reports whether the sender of ev has the power level
// notifications.room (sender_notification_permission "room") in a room
// with the given create and power levels events.
func senderMayNotifyRoom(ev, create, powerLevels *event.PDU) bool {
	v := ev.Version()
	if create != nil {
		v = create.Version()
	}
	pl := authrules.NewPowerLevels(v, powerLevels, authrules.Creators(create))
	need, _ := pl.NotificationLevel("room")
	return pl.UserLevel(ev.Sender()) >= need
}

// jsonString returns the value of a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// containsString reports whether raw is a JSON array holding the string s
// (event_property_contains).
func containsString(raw json.RawMessage, s string) bool {
	var arr []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &arr) != nil {
		return false
	}
	for _, v := range arr {
		if got, ok := jsonString(v); ok && got == s {
			return true
		}
	}
	return false
}

// containsWord reports whether text contains word, case-insensitively, at
// word boundaries: how event_match matches content.body.
func containsWord(text, word string) bool {
	text, word = strings.ToLower(text), strings.ToLower(word)
	if word == "" {
		return false
	}
	for from := 0; from <= len(text)-len(word); {
		i := strings.Index(text[from:], word)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(word)
		before, _ := utf8.DecodeLastRuneInString(text[:start])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(text) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[start:])
		from = start + size
	}
	return false
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// memberContent is the part of m.room.member content sync reads.
type memberContent struct {
	Membership  string `json:"membership"`
	DisplayName string `json:"displayname"`
}

func memberContentOf(content json.RawMessage) memberContent {
	var m memberContent
	_ = json.Unmarshal(content, &m) // unreadable fields stay empty
	return m
}
