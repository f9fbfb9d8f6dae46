package clientapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"
)

// relationsEnv is a room of alice's on a fresh stack, with helpers to send
// into it and read /relations.
type relationsEnv struct {
	*roomEnv
	t        *testing.T
	alice    *mautrix.Client
	aliceTok string
	roomID   mid.RoomID
}

func newRelationsEnv(t *testing.T, e *roomEnv) *relationsEnv {
	t.Helper()
	alice, aliceTok := e.user("alice")
	created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"}))
	return &relationsEnv{roomEnv: e, t: t, alice: alice, aliceTok: aliceTok, roomID: created.RoomID}
}

// send sends an event of type typ as cli and returns its ID.
func (r *relationsEnv) send(cli *mautrix.Client, typ string, content map[string]any) mid.EventID {
	r.t.Helper()
	evType := mevent.Type{Type: typ, Class: mevent.MessageEventType}
	return must[*mautrix.RespSendEvent](r.t, "send")(cli.SendMessageEvent(context.Background(), r.roomID, evType, content)).EventID
}

// relations GETs /relations of parent with the path suffix (rel_type,
// event type) and query, expecting 200.
func (r *relationsEnv) relations(parent mid.EventID, suffix, query string) resp {
	r.t.Helper()
	res := r.do("GET", relPath(r.roomID, parent, suffix)+"?"+query, r.aliceTok, nil)
	r.expect(res, http.StatusOK, "")
	return res
}

// sortedIDs returns ids sorted, for comparing sets.
func sortedIDs(ids []string) []string {
	return slices.Sorted(slices.Values(ids))
}

// idStrings returns the strings of event IDs, sorted.
func idStrings(ids ...mid.EventID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return sortedIDs(out)
}

// TestRelationsRecursionFollowsMatchingRelations: with recurse=true and a
// rel_type (and event type) filter, an event that matches the filter but
// relates to the parent only through a non-matching intermediate event is
// left out. Spec: Client-Server API § Relationships API ("Events that
// would match the filter, but whose only relation to the original given
// event is through a non-matching intermediate event, will not be
// included").
func TestRelationsRecursionFollowsMatchingRelations(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		r := newRelationsEnv(t, e)
		ref := func(body string, parent mid.EventID) map[string]any {
			return relatesTo(body, "m.reference", parent, nil)
		}
		root := r.send(r.alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "root"})
		// Through matching references.
		r1 := r.send(r.alice, "m.room.message", ref("r1", root))
		r2 := r.send(r.alice, "m.room.message", ref("r2", r1))
		// Through a reaction, an m.annotation.
		reaction := r.send(r.alice, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": string(root), "key": "👍"}})
		viaReaction := r.send(r.alice, "m.room.message", ref("via the reaction", reaction))
		// Through a reference of another event type.
		other := r.send(r.alice, "org.example.note", ref("note", root))
		viaOther := r.send(r.alice, "m.room.message", ref("via the note", other))

		got := sortedIDs(chunkIDs(r.relations(root, "m.reference", "recurse=true&limit=50")))
		if want := idStrings(r1, r2, other, viaOther); !slices.Equal(got, want) {
			t.Errorf("m.reference, recursive = %v, want %v (not %s, reached through an annotation)", got, want, viaReaction)
		}
		got = sortedIDs(chunkIDs(r.relations(root, "m.reference/m.room.message", "recurse=true&limit=50")))
		if want := idStrings(r1, r2); !slices.Equal(got, want) {
			t.Errorf("m.reference/m.room.message, recursive = %v, want %v (not %s, reached through %s)", got, want, viaOther, other)
		}
		// Without a filter every relationship is followed.
		got = sortedIDs(chunkIDs(r.relations(root, "", "recurse=true&limit=50")))
		if want := idStrings(r1, r2, reaction, viaReaction, other, viaOther); !slices.Equal(got, want) {
			t.Errorf("unfiltered, recursive = %v, want %v", got, want)
		}
	})
}

// TestRelationsRecursionDepth: recursion_depth is the depth the answer
// reaches (direct children being depth 1), and no child lies deeper than
// it. Spec: relations.yaml recursion_depth ("the actual depth to which the
// server recursed").
func TestRelationsRecursionDepth(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		r := newRelationsEnv(t, e)
		bob, _ := e.user("bob")
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(context.Background(), r.roomID))
		depthOf := func(res resp) any { return res.body["recursion_depth"] }
		msg := func(body string) map[string]any { return map[string]any{"msgtype": "m.text", "body": body} }
		ref := func(body string, parent mid.EventID) map[string]any {
			return relatesTo(body, "m.reference", parent, nil)
		}

		// root ← c1 ← c2 ← c3 ← c4: three levels are returned.
		root := r.send(r.alice, "m.room.message", msg("root"))
		chain := []mid.EventID{root}
		for i := range 4 {
			chain = append(chain, r.send(r.alice, "m.room.message", ref(fmt.Sprint("c", i+1), chain[i])))
		}
		res := r.relations(root, "", "recurse=true&limit=50")
		if got, want := sortedIDs(chunkIDs(res)), idStrings(chain[1:4]...); !slices.Equal(got, want) || depthOf(res) != float64(3) {
			t.Errorf("chain of four: %v depth %v, want %v depth 3", got, depthOf(res), want)
		}
		// Direct children only: depth 1.
		flat := r.send(r.alice, "m.room.message", msg("flat"))
		kids := []mid.EventID{r.send(r.alice, "m.room.message", ref("k1", flat)), r.send(r.alice, "m.room.message", ref("k2", flat))}
		res = r.relations(flat, "", "recurse=true")
		if got, want := sortedIDs(chunkIDs(res)), idStrings(kids...); !slices.Equal(got, want) || depthOf(res) != float64(1) {
			t.Errorf("direct children: %v depth %v, want %v depth 1", got, depthOf(res), want)
		}
		// No children: the direct children were looked for.
		if res := r.relations(kids[0], "", "recurse=true"); len(chunkIDs(res)) != 0 || depthOf(res) != float64(1) {
			t.Errorf("no children: %s", res.raw)
		}
		// A level holding only events the user does not get does not count.
		mid1 := r.send(r.alice, "m.room.message", msg("mid"))
		g1 := r.send(r.alice, "m.room.message", ref("g1", mid1))
		g2 := r.send(r.alice, "m.room.message", ref("g2", g1))
		r.send(bob, "m.room.message", ref("bob's", g2))
		path := "/_matrix/client/v3/user/" + url.PathEscape(string(r.alice.UserID)) + "/account_data/m.ignored_user_list"
		e.expect(e.do("PUT", path, r.aliceTok, map[string]any{"ignored_users": map[string]any{string(bob.UserID): map[string]any{}}}), http.StatusOK, "")
		res = r.relations(mid1, "", "recurse=true")
		if got, want := sortedIDs(chunkIDs(res)), idStrings(g1, g2); !slices.Equal(got, want) || depthOf(res) != float64(2) {
			t.Errorf("third level ignored: %v depth %v, want %v depth 2", got, depthOf(res), want)
		}
		// Without recurse there is no recursion_depth.
		if res := r.relations(root, "", ""); depthOf(res) != nil {
			t.Errorf("without recurse: recursion_depth %v", depthOf(res))
		}
	})
}

// TestRelationsLimitZero: limit=0 is taken as the default limit, so that
// following next_batch advances and ends.
func TestRelationsLimitZero(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		r := newRelationsEnv(t, e)
		root := r.send(r.alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "root"})
		var want []string
		for i := range defaultRelationsLimit + 2 {
			want = append(want, string(r.send(r.alice, "m.room.message", relatesTo(fmt.Sprint("ref ", i), "m.reference", root, nil))))
		}
		var got []string
		query := "limit=0"
		for range 4 {
			res := r.relations(root, "", query)
			got = append(got, chunkIDs(res)...)
			next := res.str("next_batch")
			if next == "" {
				break
			}
			query = "limit=0&from=" + url.QueryEscape(next)
		}
		if !slices.Equal(sortedIDs(got), sortedIDs(want)) || len(got) != len(want) {
			t.Errorf("paging with limit=0 gave %d events %v, want the %d children once", len(got), got, len(want))
		}
		if first := r.relations(root, "", "limit=0"); len(chunkIDs(first)) != defaultRelationsLimit {
			t.Errorf("limit=0 gave %d events, want the default %d", len(chunkIDs(first)), defaultRelationsLimit)
		}
	})
}

// TestThreadsRedactIgnoredRoots: /threads returns a root sent by a user the
// caller ignores redacted, with its thread, and others see it whole.
// Spec: threads_list.yaml ("If the thread root event was sent by an
// ignored user, the event is returned redacted to the caller").
func TestThreadsRedactIgnoredRoots(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		r := newRelationsEnv(t, e)
		ctx := context.Background()
		bob, _ := e.user("bob")
		carol, carolTok := e.user("carol")
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.roomID))
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, r.roomID))
		bobRoot := r.send(bob, "m.room.message", map[string]any{"msgtype": "m.text", "body": "bob's root"})
		carolReply := r.send(carol, "m.room.message", relatesTo("carol replies", "m.thread", bobRoot, nil))
		carolRoot := r.send(carol, "m.room.message", map[string]any{"msgtype": "m.text", "body": "carol's root"})
		r.send(r.alice, "m.room.message", relatesTo("alice replies", "m.thread", carolRoot, nil))
		path := "/_matrix/client/v3/user/" + url.PathEscape(string(r.alice.UserID)) + "/account_data/m.ignored_user_list"
		e.expect(e.do("PUT", path, r.aliceTok, map[string]any{"ignored_users": map[string]any{string(bob.UserID): map[string]any{}}}), http.StatusOK, "")

		roots := func(tok string) map[string]map[string]any {
			t.Helper()
			res := e.do("GET", threadsPath(r.roomID, ""), tok, nil)
			e.expect(res, http.StatusOK, "")
			out := map[string]map[string]any{}
			chunk, _ := res.body["chunk"].([]any)
			for _, c := range chunk {
				ev, _ := c.(map[string]any)
				id, _ := ev["event_id"].(string)
				out[id] = ev
			}
			return out
		}
		seen := roots(r.aliceTok)
		root := seen[string(bobRoot)]
		if root == nil {
			t.Fatalf("alice's /threads lacks bob's thread: %v", seen)
		}
		if content, _ := root["content"].(map[string]any); len(content) != 0 {
			t.Errorf("bob's root for alice has content %v, want it redacted", content)
		}
		if root["sender"] != string(bob.UserID) || root["type"] != "m.room.message" {
			t.Errorf("bob's root for alice lost its sender or type: %v", root)
		}
		rel, _ := unsignedOf(root)["m.relations"].(map[string]any)
		thread, _ := rel["m.thread"].(map[string]any)
		if latest, _ := thread["latest_event"].(map[string]any); latest["event_id"] != string(carolReply) {
			t.Errorf("bob's root for alice has m.thread %v, want carol's reply as the latest", thread)
		}
		if content, _ := seen[string(carolRoot)]["content"].(map[string]any); content["body"] != "carol's root" {
			t.Errorf("carol's root for alice has content %v", content)
		}
		if content, _ := roots(carolTok)[string(bobRoot)]["content"].(map[string]any); content["body"] != "bob's root" {
			t.Errorf("bob's root for carol, who ignores no one, has content %v", content)
		}
	})
}
