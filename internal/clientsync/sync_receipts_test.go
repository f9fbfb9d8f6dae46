package clientsync

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/receipts"
)

// receiptsService returns a receipt service wired to the harness's first
// sync Service, as cmd/hafen wires it.
func (h *harness) receipts() *receipts.Service {
	return &receipts.Service{DB: h.db, AccountData: h.accountData(), Changed: h.sync.ReceiptsAdded}
}

// receiptContent returns the content of the m.receipt events of a room in
// a sync response, merged.
func receiptContent(t *testing.T, r *Response, roomID id.RoomID) map[string]map[string]map[string]json.RawMessage {
	t.Helper()
	out := map[string]map[string]map[string]json.RawMessage{}
	jr := roomsOf(r).Join[string(roomID)]
	if jr == nil {
		return out
	}
	for _, raw := range jr.Ephemeral.Events {
		var ev struct {
			Type    string                                           `json:"type"`
			Content map[string]map[string]map[string]json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("ephemeral event %s: %v", raw, err)
		}
		if ev.Type != "m.receipt" {
			continue
		}
		for eid, byType := range ev.Content {
			if out[eid] == nil {
				out[eid] = map[string]map[string]json.RawMessage{}
			}
			for typ, users := range byType {
				out[eid][typ] = users
			}
		}
	}
	return out
}

func TestSyncReceipts(t *testing.T) { forEachBackend(t, testSyncReceipts) }

func testSyncReceipts(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, carol, carol, "join")
	aliceFirst := h.initial(alice, nil)
	bobFirst := h.initial(bob, nil)

	h.send(roomID, alice, "one")
	two := h.send(roomID, alice, "two")
	bobSecond := h.next(bob, bobFirst.NextBatch, nil)
	wantUnread(t, "before reading", unreadOf(t, bobSecond, roomID), 2, 0)

	// Bob reads up to the newest event: his counts drop to 0, alice sees
	// his public receipt; carol's private receipt reaches only carol.
	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, two, ""); err != nil {
		t.Fatal(err)
	}
	if err := rs.Post(h.ctx, carol, roomID, receipts.TypeReadPrivate, two, ""); err != nil {
		t.Fatal(err)
	}
	bobThird := h.next(bob, bobSecond.NextBatch, nil)
	wantUnread(t, "after bob's read receipt", unreadOf(t, bobThird, roomID), 0, 0)
	if got := receiptContent(t, bobThird, roomID)[string(two)]["m.read"]; got[string(bob)] == nil {
		t.Errorf("bob's sync lacks his receipt: %v", receiptContent(t, bobThird, roomID))
	}
	if got := receiptContent(t, bobThird, roomID)[string(two)]["m.read.private"]; got != nil {
		t.Errorf("bob sees carol's private receipt: %v", got)
	}
	aliceNext := h.next(alice, aliceFirst.NextBatch, nil)
	if got := receiptContent(t, aliceNext, roomID)[string(two)]; got["m.read"][string(bob)] == nil || got["m.read.private"] != nil {
		t.Errorf("alice's receipts = %v", got)
	}
	carolSync := h.initial(carol, nil)
	if got := receiptContent(t, carolSync, roomID)[string(two)]; got["m.read.private"][string(carol)] == nil || got["m.read"][string(bob)] == nil {
		t.Errorf("carol's initial sync receipts = %v", got)
	}
	// Nothing is repeated.
	if again := h.next(bob, bobThird.NextBatch, nil); !again.isEmpty() {
		t.Errorf("sync after the receipts = %+v", again.Rooms)
	}

	// A receipt on an older event counts what follows it.
	one := h.send(roomID, alice, "three")
	h.send(roomID, alice, "four")
	h.send(roomID, alice, "five")
	bobFourth := h.next(bob, bobThird.NextBatch, nil)
	wantUnread(t, "three new", unreadOf(t, bobFourth, roomID), 3, 0)
	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeReadPrivate, one, ""); err != nil {
		t.Fatal(err)
	}
	bobFifth := h.next(bob, bobFourth.NextBatch, nil)
	wantUnread(t, "after reading three", unreadOf(t, bobFifth, roomID), 2, 0)
	// A fresh Service agrees.
	fresh := h.syncWith(h.addSync(0), Request{User: bob, Device: "DEV"})
	wantUnread(t, "fresh Service", unreadOf(t, fresh, roomID), 2, 0)

	// A long-polling sync wakes for a receipt; a thread receipt carries
	// its thread_id and does not touch the main counts.
	caughtUp := h.next(alice, aliceNext.NextBatch, nil)
	ch := h.startSync(Request{User: alice, Since: caughtUp.NextBatch, Timeout: MaxTimeout})
	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, one, string(two)); err != nil {
		t.Fatal(err)
	}
	woken := await(t, ch)
	got := receiptContent(t, woken, roomID)[string(one)]["m.read"][string(bob)]
	if got == nil || !json.Valid(got) {
		t.Fatalf("woken sync receipts = %v", receiptContent(t, woken, roomID))
	}
	var r struct {
		TS       int64  `json:"ts"`
		ThreadID string `json:"thread_id"`
	}
	if err := json.Unmarshal(got, &r); err != nil || r.ThreadID != string(two) || r.TS == 0 {
		t.Errorf("thread receipt = %s", got)
	}
}

// TestReceiptsFanOutFromMemory checks that incremental syncs of a busy
// room, where every member reads every message, make no store calls.
func TestReceiptsFanOutFromMemory(t *testing.T) { forEachBackend(t, testReceiptsFanOutFromMemory) }

func testReceiptsFanOutFromMemory(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	roomID := h.createRoom(alice)
	users := []id.UserID{alice, bob, carol}
	for _, u := range users[1:] {
		h.member(roomID, u, u, "join")
	}
	since := map[id.UserID]string{}
	for _, u := range users {
		since[u] = h.initial(u, nil).NextBatch
	}
	for round := range 3 {
		ev := h.send(roomID, users[round%len(users)], "msg")
		h.calls.n.Store(0)
		for _, u := range users {
			if err := rs.Post(h.ctx, u, roomID, receipts.TypeRead, ev, ""); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users {
			resp := h.next(u, since[u], nil)
			since[u] = resp.NextBatch
			if got := receiptContent(t, resp, roomID)[string(ev)]["m.read"]; len(got) != len(users) {
				t.Errorf("round %d: %s sees receipts %v", round, u, got)
			}
			wantUnread(t, "after reading", unreadOf(t, resp, roomID), 0, 0)
		}
		if n := h.calls.n.Load(); n != 0 {
			t.Errorf("round %d: store calls of syncs with receipts = %d, want 0", round, n)
		}
	}
}

// TestReceiptOnRecentEventCountsFromMemory checks that a read receipt for
// an event that newer events have followed, as clients send while a room
// is busy, recounts the unread counts in memory: the next sync makes no
// store call, and its counts are those after the receipt, highlights
// included, as a fresh Service counts them from the store.
func TestReceiptOnRecentEventCountsFromMemory(t *testing.T) {
	forEachBackend(t, testReceiptOnRecentEventCountsFromMemory)
}

func testReceiptOnRecentEventCountsFromMemory(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.initial(bob, nil).NextBatch
	h.send(roomID, alice, "one")
	two := h.send(roomID, alice, "two")
	h.sendContent(roomID, alice, "m.room.message", `{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@bob:hafen.test"]}}`)
	h.send(roomID, alice, "four")
	resp := h.next(bob, since, nil)
	wantUnread(t, "four new", unreadOf(t, resp, roomID), 4, 1)

	// Bob reads up to two (events follow it), then up to the newest event
	// that follows, each time before another message comes.
	for _, step := range []struct {
		read              func() id.EventID
		notify, highlight int
	}{
		{func() id.EventID { return two }, 2, 1},
		{func() id.EventID { return h.send(roomID, alice, "five") }, 0, 0},
	} {
		read := step.read()
		h.calls.n.Store(0)
		if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, read, ""); err != nil {
			t.Fatal(err)
		}
		h.send(roomID, alice, "after the receipt")
		resp = h.next(bob, resp.NextBatch, nil)
		wantUnread(t, "after the receipt", unreadOf(t, resp, roomID), step.notify+1, step.highlight)
		if n := h.calls.n.Load(); n != 0 {
			t.Errorf("store calls of the sync after a receipt for a recent event = %d, want 0", n)
		}
		fresh := h.syncWith(h.addSync(0), Request{User: bob, Device: "DEV"})
		wantUnread(t, "fresh Service", unreadOf(t, fresh, roomID), step.notify+1, step.highlight)
	}
}

// TestSyncReceiptsOfSeveralRooms checks that one incremental sync whose
// range holds receipts of two rooms, interleaved, gives each room exactly
// its own (the newest of each user), with another user's private receipt
// left out.
func TestSyncReceiptsOfSeveralRooms(t *testing.T) { forEachBackend(t, testSyncReceiptsOfSeveralRooms) }

func testSyncReceiptsOfSeveralRooms(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	first, second := h.createRoom(alice), h.createRoom(alice)
	for _, roomID := range []id.RoomID{first, second} {
		h.member(roomID, bob, bob, "join")
		h.member(roomID, carol, carol, "join")
	}
	a1, b1 := h.send(first, alice, "a1"), h.send(second, alice, "b1")
	a2, b2 := h.send(first, alice, "a2"), h.send(second, alice, "b2")
	since := h.initial(alice, nil).NextBatch

	post := func(user id.UserID, roomID id.RoomID, typ string, eventID id.EventID) {
		t.Helper()
		if err := rs.Post(h.ctx, user, roomID, typ, eventID, ""); err != nil {
			t.Fatal(err)
		}
	}
	post(bob, first, receipts.TypeRead, a1)
	post(bob, second, receipts.TypeRead, b1)
	post(carol, first, receipts.TypeReadPrivate, a2)
	post(carol, second, receipts.TypeRead, b2)
	post(bob, first, receipts.TypeRead, a2) // replaces bob's a1
	resp := h.next(alice, since, nil)

	users := func(roomID id.RoomID, eventID id.EventID, typ string) []string {
		var out []string
		for u := range receiptContent(t, resp, roomID)[string(eventID)][typ] {
			out = append(out, u)
		}
		return out
	}
	for _, c := range []struct {
		roomID  id.RoomID
		eventID id.EventID
		typ     string
		want    []string
	}{
		{first, a1, receipts.TypeRead, nil},
		{first, a2, receipts.TypeRead, []string{string(bob)}},
		{first, a2, receipts.TypeReadPrivate, nil},
		{second, b1, receipts.TypeRead, []string{string(bob)}},
		{second, b2, receipts.TypeRead, []string{string(carol)}},
	} {
		if got := users(c.roomID, c.eventID, c.typ); !slices.Equal(got, c.want) {
			t.Errorf("%s receipts for %s in %s = %v, want %v", c.typ, c.eventID, c.roomID, got, c.want)
		}
	}
	if n := len(receiptContent(t, resp, first)); n != 1 {
		t.Errorf("the first room's receipts name %d events, want 1: %v", n, receiptContent(t, resp, first))
	}
	if n := len(receiptContent(t, resp, second)); n != 2 {
		t.Errorf("the second room's receipts name %d events, want 2: %v", n, receiptContent(t, resp, second))
	}
}

// A read receipt for an event sync's stream consumer did not see in this
// process (counts set up from the store, as after a restart or when the
// user comes back from an idle spell), or saw too long ago to recount
// from memory, moves the counts as one for a recent event does: to those
// of the events after it. Spec: Client-Server API § Receiving
// notifications ("MUST update it as it changes").
func TestReceiptOnEventNotSeenMovesCounts(t *testing.T) {
	forEachBackend(t, testReceiptOnEventNotSeenMovesCounts)
}

func testReceiptOnEventNotSeenMovesCounts(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	// No counter of bob's is in memory while these arrive.
	h.send(roomID, alice, "one")
	two := h.send(roomID, alice, "two")
	resp := h.initial(bob, nil)
	wantUnread(t, "set up from the store", unreadOf(t, resp, roomID), 2, 0)
	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, two, ""); err != nil {
		t.Fatal(err)
	}
	resp = h.next(bob, resp.NextBatch, nil)
	wantUnread(t, "after reading the newest event", unreadOf(t, resp, roomID), 0, 0)

	// An event further back than the recent events sync keeps.
	var fifth id.EventID
	for i := range recentEvents + 6 {
		if ev := h.send(roomID, alice, "m"); i == 4 {
			fifth = ev
		}
	}
	resp = h.next(bob, resp.NextBatch, nil)
	wantUnread(t, "many new", unreadOf(t, resp, roomID), recentEvents+6, 0)
	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, fifth, ""); err != nil {
		t.Fatal(err)
	}
	resp = h.next(bob, resp.NextBatch, nil)
	wantUnread(t, "after reading the fifth", unreadOf(t, resp, roomID), recentEvents+1, 0)
}

// TestOwnReceiptCountsWithReceiptsFiltered: a filter that leaves m.receipt
// out of the ephemeral events still gets the unread counts the user's own
// receipt changed (push.md: servers "MUST update it as it changes"), and
// no receipt event.
func TestOwnReceiptCountsWithReceiptsFiltered(t *testing.T) {
	forEachBackend(t, testOwnReceiptCountsWithReceiptsFiltered)
}

func testOwnReceiptCountsWithReceiptsFiltered(t *testing.T) {
	h := newHarness(t, 0)
	rs := h.receipts()
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	f := &Filter{Room: &RoomFilter{Ephemeral: &RoomEventFilter{EventFilter: EventFilter{NotTypes: []string{"m.receipt"}}}}}
	since := h.initial(bob, f).NextBatch
	h.send(roomID, alice, "one")
	last := h.send(roomID, alice, "two")
	resp := h.next(bob, since, f)
	wantUnread(t, "two new", unreadOf(t, resp, roomID), 2, 0)

	if err := rs.Post(h.ctx, bob, roomID, receipts.TypeRead, last, ""); err != nil {
		t.Fatal(err)
	}
	// Alice's receipt in the same range is left out with the rest.
	if err := rs.Post(h.ctx, alice, roomID, receipts.TypeRead, last, ""); err != nil {
		t.Fatal(err)
	}
	after := h.next(bob, resp.NextBatch, f)
	wantUnread(t, "after bob's receipt", unreadOf(t, after, roomID), 0, 0)
	if evs := roomsOf(after).Join[string(roomID)].Ephemeral.Events; len(evs) != 0 {
		t.Errorf("ephemeral events %s, want none: the filter leaves receipts out", evs)
	}
	// A room without new events still has a prev_batch to page back from
	// (timeline_batch.yaml: omitted only when no earlier events exist).
	if tl := roomsOf(after).Join[string(roomID)].Timeline; tl.PrevBatch == "" || len(tl.Events) != 0 {
		t.Errorf("timeline of a room with only new counts = %+v, want no events and a prev_batch", tl)
	}
	unfiltered := h.next(alice, resp.NextBatch, nil)
	if jr := roomsOf(unfiltered).Join[string(roomID)]; jr == nil || len(jr.Ephemeral.Events) == 0 || jr.Timeline.PrevBatch == "" {
		t.Errorf("alice's sync with bob's receipt: room %+v, want the receipt and a prev_batch", jr)
	}
	if err := rs.Post(h.ctx, alice, roomID, receipts.TypeRead, h.send(roomID, alice, "three"), ""); err != nil {
		t.Fatal(err)
	}
	if jr := roomsOf(h.next(bob, after.NextBatch, f)).Join[string(roomID)]; jr == nil || len(jr.Ephemeral.Events) != 0 {
		t.Errorf("after alice's receipt: room %+v, want the message and no receipt", jr)
	}
}
