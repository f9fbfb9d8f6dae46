package clientsync

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// testEventID is a well-formed v12 event ID.
const testEventID = id.EventID("$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

// testPDU builds a signed v12 event in a throwaway room.
func testPDU(t *testing.T, typ string, stateKey *string, sender id.UserID, content string) *event.PDU {
	t.Helper()
	key, err := signing.KeyFromSeed(testServer, "ed25519:test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pdu, err := event.Build(event.Proto{
		RoomID: "!room:hafen.test", Type: typ, StateKey: stateKey, Sender: sender,
		Content: json.RawMessage(content), PrevEvents: []id.EventID{testEventID}, AuthEvents: []id.EventID{testEventID},
		Depth: 2, OriginServerTS: 1,
	}, roomversion.V12, key)
	if err != nil {
		t.Fatalf("build %s: %v", typ, err)
	}
	return pdu
}

func TestDefaultPushRules(t *testing.T) {
	sk := func(s string) *string { return &s }
	cases := []struct {
		name              string
		typ               string
		stateKey          *string
		content           string
		mayNotifyRoom     bool
		notify, highlight bool
	}{
		{"push .m.rule.message: a message notifies", "m.room.message", nil, `{"msgtype":"m.text","body":"hi"}`, false, true, false},
		{"push .m.rule.encrypted: an encrypted event notifies", "m.room.encrypted", nil, `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"x"}`, false, true, false},
		{"push .m.rule.call: a call invite notifies", "m.call.invite", nil, `{"call_id":"c","version":"1"}`, false, true, false},
		{"push .m.rule.suppress_notices: a notice does not notify", "m.room.message", nil, `{"msgtype":"m.notice","body":"bob"}`, false, false, false},
		{"push .m.rule.suppress_notices: even with a mention", "m.room.message", nil, `{"msgtype":"m.notice","body":"x","m.mentions":{"user_ids":["@bob:hafen.test"]}}`, false, false, false},
		{"push .m.rule.invite_for_me: an invite of the user notifies", "m.room.member", sk(string(bob)), `{"membership":"invite"}`, false, true, false},
		{"push .m.rule.member_event: other member events do not notify", "m.room.member", sk(string(carol)), `{"membership":"join"}`, false, false, false},
		{"push: other state events do not notify", "m.room.name", sk(""), `{"name":"bob"}`, false, false, false},
		{"push .m.rule.is_user_mention: m.mentions.user_ids highlights", "m.room.message", nil, `{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@carol:hafen.test","@bob:hafen.test"]}}`, false, true, true},
		{"push .m.rule.is_user_mention: other users' mentions do not", "m.room.message", nil, `{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@carol:hafen.test"]}}`, false, true, false},
		{"push .m.rule.is_user_mention: user_ids must be an array", "m.room.message", nil, `{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":"@bob:hafen.test"}}`, false, true, false},
		{"push .m.rule.is_room_mention: @room with permission highlights", "m.room.message", nil, `{"msgtype":"m.text","body":"all","m.mentions":{"room":true}}`, true, true, true},
		{"push .m.rule.is_room_mention: @room without permission only notifies", "m.room.message", nil, `{"msgtype":"m.text","body":"all","m.mentions":{"room":true}}`, false, true, false},
		{"push .m.rule.is_room_mention: room must be the boolean true", "m.room.message", nil, `{"msgtype":"m.text","body":"all","m.mentions":{"room":"true"}}`, true, true, false},
		{"push .m.rule.tombstone: a tombstone highlights", "m.room.tombstone", sk(""), `{"body":"moved","replacement_room":"!new:hafen.test"}`, false, true, true},
		{"push .m.rule.reaction: a reaction does not notify", "m.reaction", nil, `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":"+1"}}`, false, false, false},
		{"push .m.rule.suppress_edits: an edit does not notify", "m.room.message", nil, `{"msgtype":"m.text","body":"* fixed","m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}`, false, false, false},
		{"push: the legacy display name rule is gone since v1.17", "m.room.message", nil, `{"msgtype":"m.text","body":"Hello Bobby!"}`, false, true, false},
		{"push: the legacy user name rule is gone since v1.17", "m.room.message", nil, `{"msgtype":"m.text","body":"ask bob about it"}`, false, true, false},
		{"push .m.rule.suppress_edits: edits naming the user stay suppressed", "m.room.message", nil, `{"msgtype":"m.text","body":"* bob","m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}`, false, false, false},
		{"push: an unknown event type does not notify", "org.example.custom", nil, `{"body":"hi"}`, false, false, false},
	}
	rules := pushrules.Compile(pushrules.Defaults(string(bob)))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := testPDU(t, tc.typ, tc.stateKey, alice, tc.content)
			may := func(_ *event.PDU, key string) bool { return key == "room" && tc.mayNotifyRoom }
			three := func() int { return 3 }
			notify, highlight := pushActions(newPushEvent(ev, may, three), rules, bob, "Bobby")
			if notify != tc.notify || highlight != tc.highlight {
				t.Errorf("pushActions = notify %v, highlight %v; want %v, %v", notify, highlight, tc.notify, tc.highlight)
			}
		})
	}
}
