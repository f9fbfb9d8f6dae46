package clientsync

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/pushrules"
)

// accountData returns an account data service wired to the harness's
// first sync Service, as cmd/hafen wires it.
func (h *harness) accountData() *accountdata.Service {
	return &accountdata.Service{DB: h.db, Changed: h.sync.AccountDataChanged}
}

// typesOf returns the types of account data events.
func typesOf(t *testing.T, evs []json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for _, raw := range evs {
		var ev struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("account data event %s: %v", raw, err)
		}
		out[ev.Type] = ev.Content
	}
	return out
}

func globalData(t *testing.T, r *Response) map[string]json.RawMessage {
	t.Helper()
	if r.AccountData == nil {
		return map[string]json.RawMessage{}
	}
	return typesOf(t, r.AccountData.Events)
}

func TestSyncAccountData(t *testing.T) { forEachBackend(t, testSyncAccountData) }

func testSyncAccountData(t *testing.T) {
	h := newHarness(t, 0)
	ad := h.accountData()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")

	// An initial sync carries the default push rules.
	first := h.initial(bob, nil)
	rules, ok := globalData(t, first)["m.push_rules"]
	if !ok {
		t.Fatalf("initial sync account_data lacks m.push_rules: %+v", first.AccountData)
	}
	var r pushrules.Rules
	if err := json.Unmarshal(rules, &r); err != nil || len(r.Global.Override) == 0 || r.Global.Override[0].RuleID != pushrules.Master {
		t.Errorf("m.push_rules = %s", rules)
	}

	// Global and room account data reach the next sync, once.
	if err := ad.Set(h.ctx, bob, "", "im.example.cfg", json.RawMessage(`{"theme":"dark"}`)); err != nil {
		t.Fatal(err)
	}
	if err := ad.SetTag(h.ctx, bob, roomID, "u.work", json.RawMessage(`{"order":0.5}`)); err != nil {
		t.Fatal(err)
	}
	if err := ad.Set(h.ctx, alice, "", "im.example.cfg", json.RawMessage(`{"theme":"alice's"}`)); err != nil {
		t.Fatal(err)
	}
	second := h.next(bob, first.NextBatch, nil)
	if got := globalData(t, second); string(got["im.example.cfg"]) != `{"theme":"dark"}` || len(got) != 1 {
		t.Errorf("incremental global account data = %v", got)
	}
	jr := roomsOf(second).Join[string(roomID)]
	if jr == nil {
		t.Fatalf("room with new tags missing from join: %+v", second.Rooms)
	}
	if got := typesOf(t, jr.AccountData.Events); string(got["m.tag"]) != `{"tags":{"u.work":{"order":0.5}}}` {
		t.Errorf("room account data = %v", got)
	}
	tok, err := ParseSyncToken(second.NextBatch)
	if err != nil || tok.AccountData == 0 {
		t.Errorf("next_batch %q carries no account data position", second.NextBatch)
	}
	if again := h.next(bob, second.NextBatch, nil); !again.isEmpty() {
		t.Errorf("sync after the account data = %+v / %+v, want empty", again.AccountData, again.Rooms)
	}

	// A filter keeps types out.
	f := &Filter{AccountData: &EventFilter{NotTypes: []string{"im.*"}}, Room: &RoomFilter{AccountData: &RoomEventFilter{EventFilter: EventFilter{NotTypes: []string{"m.tag"}}}}}
	filtered := h.next(bob, first.NextBatch, f)
	if len(globalData(t, filtered)) != 0 || roomsOf(filtered).Join[string(roomID)] != nil {
		t.Errorf("filtered sync = %+v / %+v", filtered.AccountData, filtered.Rooms)
	}

	// A token written before account data had positions ("s<events>")
	// still parses and yields the user's account data.
	old := Token(tok.Events)
	if got := globalData(t, h.next(bob, old, nil)); string(got["im.example.cfg"]) != `{"theme":"dark"}` {
		t.Errorf("sync from an events-only token: account data = %v", got)
	}

	// A long-polling sync wakes for account data.
	ch := h.startSync(Request{User: bob, Since: second.NextBatch, Timeout: MaxTimeout})
	if err := ad.Set(h.ctx, bob, roomID, "im.example.room", json.RawMessage(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	woken := await(t, ch)
	if jr := roomsOf(woken).Join[string(roomID)]; jr == nil || typesOf(t, jr.AccountData.Events)["im.example.room"] == nil {
		t.Errorf("long-poll woken by account data = %+v", woken.Rooms)
	}

	// The initial sync of a fresh Service has it all.
	fresh := h.syncWith(h.addSync(0), Request{User: bob, Device: "DEV"})
	if got := globalData(t, fresh); got["im.example.cfg"] == nil || got["m.push_rules"] == nil {
		t.Errorf("fresh initial sync account data = %v", got)
	}
}

// TestUnreadFollowsUserPushRules checks that notification counts follow
// the user's own push rules, changed while sync runs and loaded by a
// Service that starts later.
func TestUnreadFollowsUserPushRules(t *testing.T) { forEachBackend(t, testUnreadFollowsUserPushRules) }

func testUnreadFollowsUserPushRules(t *testing.T) {
	h := newHarness(t, 0)
	ad := h.accountData()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, carol, carol, "join")
	first := h.initial(bob, nil)
	wantUnread(t, "initial", unreadOf(t, first, roomID), 0, 0)

	// Plain messages stop notifying; a keyword highlights (content rules
	// come before sender rules); carol is muted.
	acts := func(s string) []json.RawMessage { return []json.RawMessage{json.RawMessage(s)} }
	err := ad.EditPushRules(h.ctx, bob, func(rs *pushrules.Ruleset) error {
		if err := rs.SetActions(pushrules.KindUnderride, ".m.rule.message", []json.RawMessage{}); err != nil {
			return err
		}
		pizza := "pizza"
		if err := rs.Put(pushrules.KindContent, "pizza", pushrules.NewRule{Pattern: &pizza,
			Actions: append(acts(`"notify"`), json.RawMessage(`{"set_tweak":"highlight"}`))}, "", ""); err != nil {
			return err
		}
		return rs.Put(pushrules.KindSender, string(carol), pushrules.NewRule{Actions: []json.RawMessage{}}, "", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	h.send(roomID, alice, "hello")
	h.send(roomID, alice, "PIZZA time")
	h.send(roomID, carol, "lunch for all")
	second := h.next(bob, first.NextBatch, nil)
	wantUnread(t, "incremental with bob's rules", unreadOf(t, second, roomID), 1, 1)
	if _, ok := globalData(t, second)["m.push_rules"]; !ok {
		t.Error("changed push rules are not in the incremental sync's account data")
	}

	// A Service started now counts from the store with the stored rules.
	other := h.addSync(0)
	wantUnread(t, "fresh Service", unreadOf(t, h.syncWith(other, Request{User: bob, Device: "DEV"}), roomID), 1, 1)

	// room_member_count: a rule for rooms of exactly three members.
	err = ad.EditPushRules(h.ctx, bob, func(rs *pushrules.Ruleset) error {
		return rs.Put(pushrules.KindOverride, "three", pushrules.NewRule{Actions: append(acts(`"notify"`), json.RawMessage(`{"set_tweak":"highlight"}`)),
			Conditions: []pushrules.Condition{{Kind: pushrules.CondRoomMemberCount, Is: "3"}, {Kind: pushrules.CondEventMatch, Key: "content.body", Pattern: &[]string{"three*"}[0]}}}, "", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	h.send(roomID, alice, "three of us")
	third := h.next(bob, second.NextBatch, nil)
	wantUnread(t, "room_member_count 3", unreadOf(t, third, roomID), 2, 2)
	// With two members left, .m.rule.room_one_to_one notifies without
	// highlight.
	h.member(roomID, carol, carol, "leave")
	h.send(roomID, alice, "three no more")
	fourth := h.next(bob, third.NextBatch, nil)
	wantUnread(t, "room_member_count 2", unreadOf(t, fourth, roomID), 3, 2)
}
