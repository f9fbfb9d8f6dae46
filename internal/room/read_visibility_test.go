package room

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// Cases follow Client-Server API § Room History Visibility, "Server
// behaviour", rules 1–5 and the before/after paragraphs.
func TestCanSeeEvent(t *testing.T) {
	tests := []struct {
		name        string
		history     string
		membership  string
		joinedLater bool
		want        bool
	}{
		{"rule 1: world_readable allows a stranger", HistoryWorldReadable, "", false, true},
		{"rule 1: world_readable allows a banned user", HistoryWorldReadable, MembershipBan, false, true},
		{"rule 2: joined at the event is allowed under joined", HistoryJoined, MembershipJoin, false, true},
		{"rule 2: joined at the event is allowed under invited", HistoryInvited, MembershipJoin, false, true},
		{"rule 2: joined at the event is allowed under shared", HistoryShared, MembershipJoin, false, true},
		{"rule 3: shared allows a user who joined later", HistoryShared, "", true, true},
		{"rule 3: shared allows an invitee who joined later", HistoryShared, MembershipInvite, true, true},
		{"rule 3: shared denies a user who never joined", HistoryShared, "", false, false},
		{"rule 3: only shared looks at later joins (joined)", HistoryJoined, "", true, false},
		{"rule 3: only shared looks at later joins (invited)", HistoryInvited, "", true, false},
		{"rule 4: invited allows an invitee", HistoryInvited, MembershipInvite, false, true},
		{"rule 4: joined denies an invitee", HistoryJoined, MembershipInvite, true, false},
		{"rule 5: joined denies a user who left", HistoryJoined, MembershipLeave, false, false},
		{"rule 5: invited denies a knocking user", HistoryInvited, MembershipKnock, false, false},
		{"rule 5: shared denies a banned user who never rejoined", HistoryShared, MembershipBan, false, false},
		{"default: no history_visibility counts as shared", "", "", true, true},
		{"default: an unknown value counts as shared (deny)", "sometimes", "", false, false},
		{"default: an unknown value counts as shared (allow)", "sometimes", "", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CanSeeEvent(tc.history, tc.membership, tc.joinedLater); got != tc.want {
				t.Errorf("CanSeeEvent(%q, %q, %v) = %v, want %v", tc.history, tc.membership, tc.joinedLater, got, tc.want)
			}
		})
	}
}

func TestEventVisibilityAllows(t *testing.T) {
	tests := []struct {
		name string
		v    EventVisibility
		want bool
	}{
		{"history_visibility event from world_readable to joined is visible to a stranger",
			EventVisibility{HistoryWorldReadable, HistoryJoined, "", ""}, true},
		{"history_visibility event from joined to world_readable is visible to a stranger",
			EventVisibility{HistoryJoined, HistoryWorldReadable, "", ""}, true},
		{"own join under joined is visible",
			EventVisibility{HistoryJoined, HistoryJoined, "", MembershipJoin}, true},
		{"own leave under joined is visible",
			EventVisibility{HistoryJoined, HistoryJoined, MembershipJoin, MembershipLeave}, true},
		{"own invite under invited is visible",
			EventVisibility{HistoryInvited, HistoryInvited, "", MembershipInvite}, true},
		{"an event after leaving under joined is not visible",
			EventVisibility{HistoryJoined, HistoryJoined, MembershipLeave, MembershipLeave}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Allows(false); got != tc.want {
				t.Errorf("%+v.Allows(false) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
}

// Rule 3 for users who are not joined now: "the user joined the room at
// any point after the event" is answered from the user's member events,
// read through a real store.
func TestFilterVisibleJoinedLater(t *testing.T) {
	s, db, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
	ctx := context.Background()
	alice, bob, carol := id.UserID("@alice:hafen.test"), id.UserID("@bob:hafen.test"), id.UserID("@carol:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) {
		t.Helper()
		if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text(body)}); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
	}
	member := func(user id.UserID, membership string) {
		t.Helper()
		if _, err := s.ChangeMembership(ctx, roomID, MembershipChange{Sender: user, Target: user, Membership: membership}); err != nil {
			t.Fatalf("%s %s: %v", user, membership, err)
		}
	}
	// The room is shared (public_chat).
	send("before")
	member(bob, MembershipJoin)
	member(bob, MembershipLeave)
	send("away")
	member(bob, MembershipJoin)
	send("back")
	member(bob, MembershipLeave)
	send("gone")
	events, err := db.RoomEventsRange(ctx, roomID, 0, math.MaxInt64, store.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		user id.UserID
		want []string
	}{
		{"rule 3: shared shows a user who left everything before their last join, and rule 5 nothing after the leave",
			bob, []string{"before", "away", "back"}},
		{"rule 5: shared hides everything from a user who never joined", carol, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vis, err := FilterVisible(ctx, db, tc.user, false, events)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, e := range vis {
				if e.Type == "m.room.message" {
					got = append(got, contentString(e.JSON, "body"))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("FilterVisible(%s) messages = %v, want %v", tc.user, got, tc.want)
			}
		})
	}
}

// A user joined since before every event of a page sees the page's
// backfilled history (negative stream positions) next to the events that
// arrived live: the shortcut for joined users keeps both, and leaves out
// only events without a timeline place.
func TestFilterVisibleJoinedKeepsBackfilledHistory(t *testing.T) {
	s, db, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
	ctx := context.Background()
	alice := id.UserID("@alice:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"old", "live"} {
		if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text(body)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.RoomEventsRange(ctx, roomID, 0, math.MaxInt64, store.Forward, 100)
	if err != nil || len(all) < 2 {
		t.Fatalf("events = %v, %v", all, err)
	}
	events := []store.Event{all[len(all)-1], all[len(all)-2]}
	// "old" as backfilled history has a negative position; a soft-failed
	// event has none.
	events[1].StreamPos = -1
	softFailed := events[1]
	softFailed.StreamPos = 0
	vis, err := FilterVisible(ctx, db, alice, true, append(events, softFailed))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range vis {
		got = append(got, contentString(e.JSON, "body"))
	}
	if want := []string{"live", "old"}; !slices.Equal(got, want) {
		t.Errorf("FilterVisible messages = %v, want %v", got, want)
	}
}
