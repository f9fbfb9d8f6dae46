package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// searchIDs returns the event IDs of a search response's results.
func searchIDs(r *mautrix.RespSearch) []mid.EventID {
	var out []mid.EventID
	for _, res := range r.Results {
		out = append(out, res.Event.ID)
	}
	return out
}

// searchAll follows next_batch from a first request and returns every
// result's event ID in order.
func searchAll(t *testing.T, cli *mautrix.Client, req mautrix.ReqSearch) []mid.EventID {
	t.Helper()
	var out []mid.EventID
	for range 50 {
		r := req
		resp, err := cli.Search(context.Background(), &r)
		if err != nil {
			t.Fatalf("search %q: %v", req.SearchTerm, err)
		}
		out = append(out, searchIDs(resp)...)
		if resp.NextBatch == "" {
			return out
		}
		req.NextBatch = resp.NextBatch
	}
	t.Fatalf("search %q: more than 50 pages", req.SearchTerm)
	return nil
}

// TestSearchRoomEvents searches through the router with the mautrix client,
// on every backend (SQLite FTS5 and PostgreSQL tsvector): terms, prefixes
// and stems, keys, both orders with pagination, the room filter, groups,
// event context with profiles, state, and who may find what: only rooms
// the user is or was in, and only what history visibility lets them read.
func TestSearchRoomEvents(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, _ := e.user("bob")
		carol, _ := e.user("carol")
		dave, _ := e.user("dave")
		eve, _ := e.user("eve")
		must[struct{}](t, "displayname")(struct{}{}, alice.SetDisplayName(ctx, "Alice A."))

		pub := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Animal den", Topic: "cats and hounds"})).RoomID
		send := func(cli *mautrix.Client, roomID mid.RoomID, body string) mid.EventID {
			t.Helper()
			return must[*mautrix.RespSendEvent](t, "send")(cli.SendText(ctx, roomID, body)).EventID
		}
		must[*mautrix.RespJoinRoom](t, "dave joins")(dave.JoinRoomByID(ctx, pub))
		quick := send(alice, pub, "The quick brown fox jumps")
		lazy := send(alice, pub, "lazy dogs sleep all day")
		other := send(alice, pub, "nothing to see here")
		daveSaw := send(alice, pub, "a fox seen by dave")
		must[*mautrix.RespLeaveRoom](t, "dave leaves")(dave.LeaveRoom(ctx, pub))
		afterDave := send(alice, pub, "a fox dave never saw")

		secret := must[*mautrix.RespCreateRoom](t, "bob's room")(bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})).RoomID
		send(bob, secret, "fox secret of bob")

		joinedOnly := must[*mautrix.RespCreateRoom](t, "create joined-only")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat",
			InitialState: []*mevent.Event{{Type: mevent.StateHistoryVisibility, StateKey: ptr(""),
				Content: mevent.Content{Raw: map[string]any{"history_visibility": "joined"}}}},
		})).RoomID
		beforeCarol := send(alice, joinedOnly, "fox before carol")
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, joinedOnly))
		afterCarol := send(alice, joinedOnly, "fox after carol")
		redacted := send(alice, pub, "fox to be redacted")
		must[*mautrix.RespSendEvent](t, "redact")(alice.RedactEvent(ctx, pub, redacted))

		recent := func(term string) mautrix.ReqSearch { return mautrix.ReqSearch{SearchTerm: term, OrderBy: "recent"} }
		allFox := []mid.EventID{afterCarol, beforeCarol, afterDave, daveSaw, quick}
		if got := searchAll(t, alice, recent("fox")); !slices.Equal(got, allFox) {
			t.Errorf("alice recent fox = %v, want %v", got, allFox)
		}
		// One result per page, both orders: every result once.
		one := &mautrix.FilterPart{Limit: 1}
		paged := recent("fox")
		paged.Filter = one
		if got := searchAll(t, alice, paged); !slices.Equal(got, allFox) {
			t.Errorf("alice recent fox, pages of 1 = %v, want %v", got, allFox)
		}
		byRank := searchAll(t, alice, mautrix.ReqSearch{SearchTerm: "fox", Filter: one})
		if !sameSet(byRank, allFox) {
			t.Errorf("alice ranked fox, pages of 1 = %v, want %v in any order", byRank, allFox)
		}
		// Prefixes and stems; all terms must match.
		if got := searchAll(t, alice, recent("qui")); !slices.Equal(got, []mid.EventID{quick}) {
			t.Errorf("prefix qui = %v", got)
		}
		if got := searchAll(t, alice, recent("dog")); !slices.Equal(got, []mid.EventID{lazy}) {
			t.Errorf("dog = %v, want the message about dogs", got)
		}
		if got := searchAll(t, alice, recent("brown fox")); !slices.Equal(got, []mid.EventID{quick}) {
			t.Errorf("brown fox = %v", got)
		}
		if got := searchAll(t, alice, recent("nothing \"quote' fox")); len(got) != 0 {
			t.Errorf("terms that never meet = %v", got)
		}
		_ = other
		// Keys: the topic and name of the room.
		topicOnly := recent("hounds")
		topicOnly.Keys = []string{"content.topic"}
		if got := searchAll(t, alice, topicOnly); len(got) != 1 {
			t.Errorf("content.topic hounds = %v, want the topic event", got)
		}
		bodyOnly := recent("hounds")
		bodyOnly.Keys = []string{"content.body"}
		if got := searchAll(t, alice, bodyOnly); len(got) != 0 {
			t.Errorf("content.body hounds = %v, want none", got)
		}
		if got := searchAll(t, alice, recent("den")); len(got) != 1 {
			t.Errorf("den (the room name) = %v", got)
		}
		// The room filter.
		onlyJoined := recent("fox")
		onlyJoined.Filter = &mautrix.FilterPart{Rooms: []mid.RoomID{joinedOnly}}
		if got := searchAll(t, alice, onlyJoined); !slices.Equal(got, []mid.EventID{afterCarol, beforeCarol}) {
			t.Errorf("fox in the joined-only room = %v", got)
		}
		notPub := recent("fox")
		notPub.Filter = &mautrix.FilterPart{NotRooms: []mid.RoomID{pub}}
		if got := searchAll(t, alice, notPub); !slices.Equal(got, []mid.EventID{afterCarol, beforeCarol}) {
			t.Errorf("fox outside the public room = %v", got)
		}

		// Who finds what.
		if got := searchAll(t, bob, recent("fox")); !slices.Equal(got, []mid.EventID{mid.EventID(must[*mautrix.RespSearch](t, "bob")(bob.Search(ctx, &mautrix.ReqSearch{SearchTerm: "secret"})).Results[0].Event.ID)}) {
			t.Errorf("bob finds %v, want only his own room's message", got)
		}
		if got := searchAll(t, carol, recent("fox")); !slices.Equal(got, []mid.EventID{afterCarol}) {
			t.Errorf("carol finds %v, want only what came after her join", got)
		}
		if got := searchAll(t, dave, recent("fox")); !slices.Equal(got, []mid.EventID{daveSaw, quick}) {
			t.Errorf("dave finds %v, want what he saw before leaving", got)
		}
		// The count estimates what each may see: never the messages
		// before carol joined a joined-only room, nor those after dave
		// left. Carol's rename, a join event too, does not end her stay.
		must[any](t, "carol renames")(nil, carol.SetDisplayName(ctx, "Carol"))
		e.drainProfiles()
		for _, c := range []struct {
			who  *mautrix.Client
			want int
		}{{alice, len(allFox)}, {carol, 1}, {dave, 2}} {
			resp := must[*mautrix.RespSearch](t, "count")(c.who.Search(ctx, &mautrix.ReqSearch{SearchTerm: "fox", OrderBy: "recent"}))
			if resp.Count != c.want {
				t.Errorf("%s's count of fox = %d, want %d", c.who.UserID, resp.Count, c.want)
			}
		}
		eveResp := must[*mautrix.RespSearch](t, "eve")(eve.Search(ctx, &mautrix.ReqSearch{SearchTerm: "fox"}))
		if len(eveResp.Results) != 0 || eveResp.Count != 0 {
			t.Errorf("eve, in no room, finds %v (count %d)", searchIDs(eveResp), eveResp.Count)
		}
		onlySecret := recent("fox")
		onlySecret.Filter = &mautrix.FilterPart{Rooms: []mid.RoomID{secret}}
		if got := searchAll(t, alice, onlySecret); len(got) != 0 {
			t.Errorf("alice searching bob's room finds %v", got)
		}

		// Context, profiles, groups, highlights, count and state.
		full := must[*mautrix.RespSearch](t, "full")(alice.Search(ctx, &mautrix.ReqSearch{
			SearchTerm: "lazy", OrderBy: "recent", IncludeState: true,
			EventContext: mautrix.SearchEventContext{BeforeLimit: 1, AfterLimit: 1, IncludeProfile: true},
			Groupings:    mautrix.SearchGroupings{GroupBy: []mautrix.SearchGroup{{Key: "room_id"}, {Key: "sender"}}},
		}))
		if len(full.Results) != 1 || full.Count != 1 || !slices.Contains(full.Highlights, "lazy") {
			t.Fatalf("lazy: %d results, count %d, highlights %v", len(full.Results), full.Count, full.Highlights)
		}
		c := full.Results[0].Context
		if c == nil || len(c.EventsBefore) != 1 || c.EventsBefore[0].ID != quick || len(c.EventsAfter) != 1 || c.EventsAfter[0].ID != other {
			t.Errorf("context = %+v", c)
		}
		if g := full.Groups["room_id"][string(pub)]; len(g.Results) != 1 || g.Results[0] != string(lazy) {
			t.Errorf("groups.room_id = %+v", full.Groups)
		}
		if g := full.Groups["sender"][string(alice.UserID)]; len(g.Results) != 1 {
			t.Errorf("groups.sender = %+v", full.Groups)
		}
		if len(full.State[pub]) == 0 {
			t.Errorf("state of %s missing", pub)
		}
		raw := e.do("POST", "/_matrix/client/v3/search", aliceTok, map[string]any{"search_categories": map[string]any{"room_events": map[string]any{
			"search_term": "lazy", "event_context": map[string]any{"include_profile": true}}}})
		e.expect(raw, http.StatusOK, "")
		re, _ := raw.body["search_categories"].(map[string]any)["room_events"].(map[string]any)
		res0, _ := re["results"].([]any)[0].(map[string]any)
		prof, _ := res0["context"].(map[string]any)["profile_info"].(map[string]any)[string(alice.UserID)].(map[string]any)
		if prof["displayname"] != "Alice A." {
			t.Errorf("profile_info = %v", res0["context"])
		}

		// Refused.
		post := func(body any, query string) resp {
			return e.do("POST", "/_matrix/client/v3/search"+query, aliceTok, body)
		}
		crit := func(c map[string]any) map[string]any {
			return map[string]any{"search_categories": map[string]any{"room_events": c}}
		}
		e.expect(post(crit(map[string]any{"search_term": "fox", "order_by": "best"}), ""), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(post(crit(map[string]any{"search_term": "fox", "keys": []string{"content.format"}}), ""), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(post(crit(map[string]any{}), ""), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(post(map[string]any{}, ""), http.StatusBadRequest, "M_MISSING_PARAM")
		e.expect(post(crit(map[string]any{"search_term": "fox"}), "?next_batch=garbage"), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(post(crit(map[string]any{"search_term": "fox", "order_by": "recent"}), "?next_batch="+url.QueryEscape("o1")), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(post(crit(map[string]any{"search_term": "fox", "event_context": map[string]any{"before_limit": -1}}), ""), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(post(crit(map[string]any{"search_term": "fox", "groupings": map[string]any{"group_by": []any{map[string]any{"key": "type"}}}}), ""), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(post(`{"search_categories":`, ""), http.StatusBadRequest, "M_NOT_JSON")
		e.expect(post(map[string]any{"search_categories": map[string]any{}}, ""), http.StatusOK, "")
	})
}

// sameSet reports whether a and b hold the same IDs once each.
func sameSet(a, b []mid.EventID) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestSearchHighlightsAlwaysArray: search.yaml's highlights is an array,
// also for a term with nothing to match (an emoji, punctuation). A null
// filter counts as none, as other optional members' null does.
func TestSearchHighlightsAlwaysArray(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		_, tok := e.user("alice")
		for _, term := range []string{"🙂", "", "?!"} {
			r := e.do("POST", "/_matrix/client/v3/search", tok, map[string]any{
				"search_categories": map[string]any{"room_events": map[string]any{"search_term": term, "filter": nil}},
			})
			e.expect(r, http.StatusOK, "")
			cats, _ := r.body["search_categories"].(map[string]any)
			events, _ := cats["room_events"].(map[string]any)
			if _, ok := events["highlights"].([]any); !ok {
				t.Errorf("search %q: highlights = %v, want an array", term, events["highlights"])
			}
		}
	})
}
