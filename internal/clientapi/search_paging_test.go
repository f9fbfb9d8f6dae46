package clientapi

import (
	"context"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// searchPages returns every page of a search, following next_batch.
func searchPages(t *testing.T, cli *mautrix.Client, req mautrix.ReqSearch) []*mautrix.RespSearch {
	t.Helper()
	var out []*mautrix.RespSearch
	for range 50 {
		r := req
		resp, err := cli.Search(context.Background(), &r)
		if err != nil {
			t.Fatalf("search %q: %v", req.SearchTerm, err)
		}
		out = append(out, resp)
		if resp.NextBatch == "" {
			return out
		}
		req.NextBatch = resp.NextBatch
	}
	t.Fatalf("search %q: more than 50 pages", req.SearchTerm)
	return nil
}

// TestSearchCount checks, on every backend, that count is what paging
// through the search returns (search.yaml: "the total number of
// results"), on every page: it honours every field of the filter, not
// only the rooms, and the history-visibility rules the results pass.
func TestSearchCount(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		dave, _ := e.user("dave")
		shared := func() mid.RoomID {
			return must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
				Preset: "public_chat",
				InitialState: []*mevent.Event{{Type: mevent.StateHistoryVisibility, StateKey: ptr(""),
					Content: mevent.Content{Raw: map[string]any{"history_visibility": "shared"}}}},
			})).RoomID
		}
		send := func(cli *mautrix.Client, roomID mid.RoomID, body string) {
			t.Helper()
			must[*mautrix.RespSendEvent](t, "send")(cli.SendText(ctx, roomID, body))
		}

		// Carol joins a shared room after five matches: she sees them
		// (rule 3) and the two after her join.
		s := shared()
		for range 5 {
			send(alice, s, "kiwi before carol")
		}
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, s))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, s))
		send(alice, s, "kiwi after carol")
		send(bob, s, "kiwi from bob")
		must[*mautrix.RespSendEvent](t, "file")(alice.SendMessageEvent(ctx, s, mevent.EventMessage,
			map[string]any{"msgtype": "m.file", "body": "kiwi.png", "url": "mxc://hafen.test/kiwi"}))

		// Dave joins three shared rooms after two matches each, sees one
		// more and leaves before the last: three of four in each.
		for range 3 {
			r := shared()
			send(alice, r, "kiwi one")
			send(alice, r, "kiwi two")
			must[*mautrix.RespJoinRoom](t, "dave joins")(dave.JoinRoomByID(ctx, r))
			send(alice, r, "kiwi three")
			must[*mautrix.RespLeaveRoom](t, "dave leaves")(dave.LeaveRoom(ctx, r))
			send(alice, r, "kiwi four")
		}

		kiwi := func(order string, limit int, f *mautrix.FilterPart) mautrix.ReqSearch {
			if f == nil {
				f = &mautrix.FilterPart{}
			}
			f.Limit = limit
			return mautrix.ReqSearch{SearchTerm: "kiwi", OrderBy: order, Filter: f}
		}
		yes, no := true, false
		for _, tc := range []struct {
			name string
			who  *mautrix.Client
			req  mautrix.ReqSearch
			want int
		}{
			{"alice, everything", alice, kiwi("recent", 0, nil), 20},
			{"alice, pages of 3", alice, kiwi("recent", 3, nil), 20},
			{"alice by rank, pages of 3", alice, kiwi("rank", 3, nil), 20},
			{"senders", alice, kiwi("recent", 0, &mautrix.FilterPart{Senders: []mid.UserID{bob.UserID}}), 1},
			{"senders, nobody's", alice, kiwi("recent", 0, &mautrix.FilterPart{Senders: []mid.UserID{"@nobody:hafen.test"}}), 0},
			{"not_senders", alice, kiwi("rank", 0, &mautrix.FilterPart{NotSenders: []mid.UserID{alice.UserID}}), 1},
			{"types", alice, kiwi("recent", 0, &mautrix.FilterPart{Types: []mevent.Type{mevent.StateTopic}}), 0},
			{"not_types", alice, kiwi("recent", 0, &mautrix.FilterPart{NotTypes: []mevent.Type{mevent.EventMessage}}), 0},
			{"contains_url", alice, kiwi("recent", 0, &mautrix.FilterPart{ContainsURL: &yes}), 1},
			{"contains_url false, pages of 4", alice, kiwi("recent", 4, &mautrix.FilterPart{ContainsURL: &no}), 19},
			{"rooms and senders", alice, kiwi("recent", 0, &mautrix.FilterPart{Rooms: []mid.RoomID{s}, NotSenders: []mid.UserID{bob.UserID}}), 7},
			{"joined a shared room late", carol, kiwi("recent", 0, nil), 8},
			{"joined a shared room late, pages of 2", carol, kiwi("rank", 2, nil), 8},
			{"left three shared rooms", dave, kiwi("recent", 0, nil), 9},
			{"left three shared rooms, pages of 2", dave, kiwi("recent", 2, nil), 9},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pages := searchPages(t, tc.who, tc.req)
				var got []mid.EventID
				for i, p := range pages {
					got = append(got, searchIDs(p)...)
					if p.Count != tc.want {
						t.Errorf("count on page %d = %d, want %d", i+1, p.Count, tc.want)
					}
				}
				if len(got) != tc.want {
					t.Errorf("paging returns %d results, want %d", len(got), tc.want)
				}
				if n := len(pages[len(pages)-1].Results); len(pages) > 1 && n == 0 {
					t.Errorf("the last of %d pages is empty", len(pages))
				}
			})
		}
	})
}

// TestSearchGroupNextBatch checks, on every backend, that a group's
// next_batch pages within that group (search.md § Pagination: "using a
// token inside a group will return more results from within that
// group"), by room and by sender, in both orders; that a group without
// more results has none; and that the global next_batch still pages
// through everything.
func TestSearchGroupNextBatch(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		roomA := must[*mautrix.RespCreateRoom](t, "create a")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		roomB := must[*mautrix.RespCreateRoom](t, "create b")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})).RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomA))
		send := func(cli *mautrix.Client, roomID mid.RoomID, body string) mid.EventID {
			t.Helper()
			return must[*mautrix.RespSendEvent](t, "send")(cli.SendText(ctx, roomID, body)).EventID
		}
		// Newest first: b7 a6 a5 b4 a3 b2 a1.
		a1 := send(alice, roomA, "plum 1")
		b2 := send(alice, roomB, "plum 2")
		a3 := send(bob, roomA, "plum 3")
		b4 := send(alice, roomB, "plum 4")
		a5 := send(alice, roomA, "plum 5")
		a6 := send(bob, roomA, "plum 6")
		b7 := send(alice, roomB, "plum 7")
		inA := []mid.EventID{a6, a5, a3, a1}
		byBob := []mid.EventID{a6, a3}
		byAlice := []mid.EventID{b7, a5, b4, b2, a1}
		all := []mid.EventID{b7, a6, a5, b4, a3, b2, a1}

		grouped := func(order string, limit int) mautrix.ReqSearch {
			return mautrix.ReqSearch{SearchTerm: "plum", OrderBy: order, Filter: &mautrix.FilterPart{Limit: limit},
				Groupings: mautrix.SearchGroupings{GroupBy: []mautrix.SearchGroup{{Key: "room_id"}, {Key: "sender"}}}}
		}
		for _, order := range []string{"recent", "rank"} {
			t.Run(order, func(t *testing.T) {
				first := must[*mautrix.RespSearch](t, "first page")(alice.Search(ctx, ptr(grouped(order, 2))))
				if first.NextBatch == "" || len(first.Results) != 2 {
					t.Fatalf("first page: %v, next_batch %q", searchIDs(first), first.NextBatch)
				}
				for _, g := range []struct {
					key, value string
					want       []mid.EventID
				}{
					{"room_id", string(roomA), inA},
					{"room_id", string(roomB), []mid.EventID{b7, b4, b2}},
					{"sender", string(bob.UserID), byBob},
					{"sender", string(alice.UserID), byAlice},
				} {
					// The group's results on the first page, then those its
					// token pages to.
					group, ok := first.Groups[g.key][g.value]
					got := slices.Clone(group.Results)
					var ids []mid.EventID
					for _, r := range got {
						ids = append(ids, mid.EventID(r))
					}
					if !ok || len(ids) == 0 {
						// Not on the first page: nothing to follow.
						continue
					}
					if group.NextBatch == "" {
						if len(ids) != len(g.want) {
							t.Errorf("group %s %s: no next_batch after %v, want %v", g.key, g.value, ids, g.want)
						}
						continue
					}
					req := grouped(order, 2)
					req.NextBatch = group.NextBatch
					pages := searchPages(t, alice, req)
					for _, p := range pages {
						ids = append(ids, searchIDs(p)...)
					}
					if order == "recent" && !slices.Equal(ids, g.want) || !sameSet(ids, g.want) {
						t.Errorf("group %s %s pages to %v, want %v", g.key, g.value, ids, g.want)
					}
					if pages[0].Count != len(g.want) {
						t.Errorf("group %s %s: count %d, want %d", g.key, g.value, pages[0].Count, len(g.want))
					}
				}
				// The global next_batch still pages through every group.
				if got := searchAll(t, alice, grouped(order, 2)); !sameSet(got, all) || order == "recent" && !slices.Equal(got, all) {
					t.Errorf("global pages = %v, want %v", got, all)
				}
			})
		}

		// A page of six leaves only a1: room B and bob have no more.
		six := must[*mautrix.RespSearch](t, "six")(alice.Search(ctx, ptr(grouped("recent", 6))))
		if six.NextBatch == "" {
			t.Fatalf("page of six: no next_batch")
		}
		for _, g := range []struct {
			key, value string
			more       bool
		}{
			{"room_id", string(roomA), true},
			{"room_id", string(roomB), false},
			{"sender", string(alice.UserID), true},
			{"sender", string(bob.UserID), false},
		} {
			if has := six.Groups[g.key][g.value].NextBatch != ""; has != g.more {
				t.Errorf("page of six: group %s %s has next_batch %v, want %v", g.key, g.value, has, g.more)
			}
		}
		// The last page has no next_batch, nor any group.
		seven := must[*mautrix.RespSearch](t, "seven")(alice.Search(ctx, ptr(grouped("recent", 7))))
		if seven.NextBatch != "" || seven.Groups["room_id"][string(roomA)].NextBatch != "" {
			t.Errorf("page of all seven: next_batch %q, groups %+v", seven.NextBatch, seven.Groups)
		}
	})
}
