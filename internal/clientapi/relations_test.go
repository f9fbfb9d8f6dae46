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

	"github.com/hafenchat/hafen/internal/relations"
)

// relatesTo returns message content relating to parent with relType.
func relatesTo(body, relType string, parent mid.EventID, extra map[string]any) map[string]any {
	c := map[string]any{"msgtype": "m.text", "body": body,
		"m.relates_to": map[string]any{"rel_type": relType, "event_id": string(parent)}}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// eventIDs returns the IDs of events.
func eventIDs(evs []*mevent.Event) []mid.EventID {
	out := make([]mid.EventID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// TestRelationsThreadsAndAggregations sends threads, edits, references and
// reactions through the router with the mautrix client, on every backend,
// and reads them back through /relations (all three path forms, both
// directions, pagination, recursion), /threads and the bundled
// aggregations of /event, /messages and /context, including what users
// outside the room or outside its visible history are refused.
func TestRelationsThreadsAndAggregations(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		bob, bobTok := e.user("bob")
		carol, carolTok := e.user("carol")
		_, eveTok := e.user("eve")
		created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat",
			InitialState: []*mevent.Event{{Type: mevent.StateHistoryVisibility, StateKey: ptr(""),
				Content: mevent.Content{Raw: map[string]any{"history_visibility": "joined"}}}},
		}))
		roomID := created.RoomID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		send := func(cli *mautrix.Client, typ mevent.Type, content any) mid.EventID {
			t.Helper()
			return must[*mautrix.RespSendEvent](t, "send")(cli.SendMessageEvent(ctx, roomID, typ, content)).EventID
		}
		root := send(alice, mevent.EventMessage, map[string]any{"msgtype": "m.text", "body": "root"})
		reply1 := send(bob, mevent.EventMessage, relatesTo("first reply", "m.thread", root, nil))
		reaction := must[*mautrix.RespSendEvent](t, "react")(bob.SendReaction(ctx, roomID, root, "👍")).EventID
		edit := send(alice, mevent.EventMessage, relatesTo("* root!", "m.replace", root,
			map[string]any{"m.new_content": map[string]any{"msgtype": "m.text", "body": "root!"}}))
		badEdit := send(bob, mevent.EventMessage, relatesTo("* hijack", "m.replace", root,
			map[string]any{"m.new_content": map[string]any{"msgtype": "m.text", "body": "hijack"}}))
		ref := send(bob, mevent.EventMessage, relatesTo("see above", "m.reference", root, nil))
		reply2 := send(alice, mevent.EventMessage, relatesTo("second reply", "m.thread", root, nil))
		replyReaction := must[*mautrix.RespSendEvent](t, "react to reply")(alice.SendReaction(ctx, roomID, reply1, "🎉")).EventID
		replyEdit := send(alice, mevent.EventMessage, relatesTo("* second reply!", "m.replace", reply2,
			map[string]any{"m.new_content": map[string]any{"msgtype": "m.text", "body": "second reply!"}}))

		// All children, newest first, in pages of two.
		all := []mid.EventID{reply2, ref, badEdit, edit, reaction, reply1}
		var got []mid.EventID
		from := ""
		for range 10 {
			page := must[*mautrix.RespGetRelations](t, "relations")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{Limit: 2, From: from}))
			got = append(got, eventIDs(page.Chunk)...)
			if page.NextBatch == "" {
				break
			}
			from = page.NextBatch
		}
		if !slices.Equal(got, all) {
			t.Errorf("relations pages = %v, want %v", got, all)
		}
		fwd := must[*mautrix.RespGetRelations](t, "relations forwards")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{Dir: mautrix.DirectionForward}))
		if want := slices.Clone(all); !slices.Equal(eventIDs(fwd.Chunk), reversed(want)) {
			t.Errorf("relations dir=f = %v, want %v", eventIDs(fwd.Chunk), reversed(want))
		}
		ann := must[*mautrix.RespGetRelations](t, "annotations")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{RelationType: mevent.RelAnnotation}))
		if !slices.Equal(eventIDs(ann.Chunk), []mid.EventID{reaction}) {
			t.Errorf("m.annotation = %v, want [%s]", eventIDs(ann.Chunk), reaction)
		}
		annType := must[*mautrix.RespGetRelations](t, "annotations of type")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{RelationType: mevent.RelAnnotation, EventType: mevent.EventReaction}))
		if !slices.Equal(eventIDs(annType.Chunk), []mid.EventID{reaction}) {
			t.Errorf("m.annotation/m.reaction = %v", eventIDs(annType.Chunk))
		}
		none := must[*mautrix.RespGetRelations](t, "annotations of other type")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{RelationType: mevent.RelAnnotation, EventType: mevent.EventMessage}))
		if len(none.Chunk) != 0 {
			t.Errorf("m.annotation/m.room.message = %v, want none", eventIDs(none.Chunk))
		}
		// With a rel_type, recursion follows only matching relationships:
		// the replies' edit and reaction are not m.thread, and no m.thread
		// hangs off a reply, so the answer is the direct replies.
		threads := must[*mautrix.RespGetRelations](t, "thread")(alice.GetRelations(ctx, roomID, root, &mautrix.ReqGetRelations{RelationType: mevent.RelThread, Recurse: true}))
		if want := []mid.EventID{reply2, reply1}; !slices.Equal(eventIDs(threads.Chunk), want) || threads.RecursionDepth != 1 {
			t.Errorf("recursive thread = %v depth %d, want %v depth 1", eventIDs(threads.Chunk), threads.RecursionDepth, want)
		}
		// Without a filter, recursion follows children of children.
		rec := e.do("GET", relPath(roomID, root, "")+"?recurse=true&limit=50", aliceTok, nil)
		e.expect(rec, http.StatusOK, "")
		if ids := chunkIDs(rec); !slices.Contains(ids, string(replyReaction)) || !slices.Contains(ids, string(replyEdit)) || len(ids) != len(all)+2 {
			t.Errorf("recurse=true chunk = %v", ids)
		}
		if d, _ := rec.body["recursion_depth"].(float64); d != 2 {
			t.Errorf("recursion_depth = %v, want 2", rec.body["recursion_depth"])
		}
		flat := e.do("GET", relPath(roomID, root, "")+"?limit=50", aliceTok, nil)
		if _, ok := flat.body["recursion_depth"]; ok || len(chunkIDs(flat)) != len(all) {
			t.Errorf("without recurse: %s", flat.raw)
		}

		// Bundled aggregations on /event, /messages and /context.
		checkRoot := func(where string, ev *mevent.Event, viewer mid.UserID) {
			t.Helper()
			rel := ev.Unsigned.Relations
			if rel == nil || rel.Thread == nil {
				t.Fatalf("%s: root has no m.thread aggregation", where)
			}
			if rel.Thread.Count != 2 || rel.Thread.LatestEvent == nil || rel.Thread.LatestEvent.ID != reply2 {
				t.Errorf("%s: m.thread = count %d latest %v", where, rel.Thread.Count, rel.Thread.LatestEvent)
			}
			if rel.Thread.LatestEvent != nil && rel.Thread.LatestEvent.Unsigned.Relations.GetLatestEdit() == nil {
				t.Errorf("%s: the latest thread event lacks its own m.replace", where)
			}
			if rel.Thread.CurrentUserParticipated != (viewer == alice.UserID || viewer == bob.UserID) {
				t.Errorf("%s: current_user_participated = %v for %s", where, rel.Thread.CurrentUserParticipated, viewer)
			}
			if rel.References == nil || len(rel.References.Chunk) != 1 || rel.References.Chunk[0].EventID != ref {
				t.Errorf("%s: m.reference = %+v", where, rel.References)
			}
			if rel.LatestEdit == nil || rel.LatestEdit.ID != edit {
				t.Errorf("%s: m.replace = %v, want %s (not %s)", where, rel.LatestEdit, edit, badEdit)
			}
			if body, _ := ev.Content.Raw["body"].(string); body != "root" {
				t.Errorf("%s: the original content was replaced: %q", where, body)
			}
		}
		checkRoot("/event", must[*mevent.Event](t, "event")(alice.GetEvent(ctx, roomID, root)), alice.UserID)
		msgs := must[*mautrix.RespMessages](t, "messages")(bob.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 50))
		for _, ev := range msgs.Chunk {
			if ev.ID == root {
				checkRoot("/messages", ev, bob.UserID)
			}
			if ev.ID == reaction && ev.Unsigned.Relations != nil {
				t.Errorf("a reaction got aggregations: %+v", ev.Unsigned.Relations)
			}
		}
		ctxResp := must[*mautrix.RespContext](t, "context")(alice.Context(ctx, roomID, reply1, nil, 20))
		for _, ev := range ctxResp.EventsBefore {
			if ev.ID == root {
				checkRoot("/context", ev, alice.UserID)
			}
		}

		// /threads: all, participated, and a joiner of a "joined" room
		// sees no history from before their join.
		thr := e.do("GET", threadsPath(roomID, ""), bobTok, nil)
		e.expect(thr, http.StatusOK, "")
		if ids := chunkIDs(thr); !slices.Equal(ids, []string{string(root)}) {
			t.Errorf("/threads = %v", ids)
		}
		must[*mautrix.RespJoinRoom](t, "carol joins")(carol.JoinRoomByID(ctx, roomID))
		if ids := chunkIDs(e.do("GET", threadsPath(roomID, "include=all"), carolTok, nil)); len(ids) != 0 {
			t.Errorf("/threads for a later joiner = %v, want none", ids)
		}
		e.expect(e.do("GET", relPath(roomID, root, ""), carolTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		carolRoot := send(carol, mevent.EventMessage, map[string]any{"msgtype": "m.text", "body": "carol's root"})
		send(bob, mevent.EventMessage, relatesTo("reply to carol", "m.thread", carolRoot, nil))
		if ids := chunkIDs(e.do("GET", threadsPath(roomID, "include=participated"), carolTok, nil)); !slices.Equal(ids, []string{string(carolRoot)}) {
			t.Errorf("/threads?include=participated for carol = %v", ids)
		}
		if ids := chunkIDs(e.do("GET", threadsPath(roomID, "include=participated"), aliceTok, nil)); !slices.Equal(ids, []string{string(root)}) {
			t.Errorf("/threads?include=participated for alice = %v", ids)
		}
		p1 := e.do("GET", threadsPath(roomID, "limit=1"), bobTok, nil)
		next, _ := p1.body["next_batch"].(string)
		if ids := chunkIDs(p1); !slices.Equal(ids, []string{string(carolRoot)}) || next == "" {
			t.Fatalf("/threads?limit=1 = %v next %q", ids, next)
		}
		p2 := e.do("GET", threadsPath(roomID, "limit=1&from="+url.QueryEscape(next)), bobTok, nil)
		if ids := chunkIDs(p2); !slices.Equal(ids, []string{string(root)}) || p2.body["next_batch"] != nil {
			t.Errorf("/threads page 2 = %v next %v", ids, p2.body["next_batch"])
		}

		// A redacted reply leaves the thread.
		must[*mautrix.RespSendEvent](t, "redact")(bob.RedactEvent(ctx, roomID, reply1))
		after := must[*mevent.Event](t, "event after redaction")(alice.GetEvent(ctx, roomID, root))
		if c := after.Unsigned.Relations.GetThread().GetCount(); c != 1 {
			t.Errorf("thread count after redacting a reply = %d, want 1", c)
		}

		// Refused: a user never in the room, bad parameters, unknown
		// events.
		e.expect(e.do("GET", relPath(roomID, root, ""), eveTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("GET", relPath(roomID, root, "m.thread"), eveTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("GET", threadsPath(roomID, ""), eveTok, nil), http.StatusForbidden, "M_FORBIDDEN")
		e.expect(e.do("GET", relPath(roomID, "$nope:hafen.test", ""), aliceTok, nil), http.StatusNotFound, "M_NOT_FOUND")
		e.expect(e.do("GET", relPath(roomID, root, "")+"?dir=x", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", relPath(roomID, root, "")+"?recurse=maybe", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", relPath(roomID, root, "")+"?from=garbage", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", relPath(roomID, root, "")+"?limit=-1", aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", threadsPath(roomID, "include=some"), aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", threadsPath(roomID, "from=garbage"), aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
		e.expect(e.do("GET", "/_matrix/client/v1/rooms/notaroom/relations/"+url.PathEscape(string(root)), aliceTok, nil), http.StatusBadRequest, "M_INVALID_PARAM")
	})
}

func relPath(roomID mid.RoomID, eventID mid.EventID, relType string) string {
	p := "/_matrix/client/v1/rooms/" + url.PathEscape(string(roomID)) + "/relations/" + url.PathEscape(string(eventID))
	if relType != "" {
		p += "/" + relType
	}
	return p
}

func threadsPath(roomID mid.RoomID, query string) string {
	p := "/_matrix/client/v1/rooms/" + url.PathEscape(string(roomID)) + "/threads"
	if query != "" {
		p += "?" + query
	}
	return p
}

// chunkIDs returns the event IDs of a response's chunk.
func chunkIDs(r resp) []string {
	var out []string
	chunk, _ := r.body["chunk"].([]any)
	for _, c := range chunk {
		m, _ := c.(map[string]any)
		s, _ := m["event_id"].(string)
		out = append(out, s)
	}
	return out
}

func reversed[T any](s []T) []T {
	slices.Reverse(s)
	return s
}

func ptr[T any](v T) *T { return &v }

// TestSyncBundlesAggregationsInLimitedTimelines checks that /sync adds
// bundled aggregations to events of limited timelines (initial and
// incremental), on every backend, and leaves unlimited ones alone.
func TestSyncBundlesAggregationsInLimitedTimelines(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		withSync(t, e)
		e.srv.Sync.SetAggregator(&relations.Service{DB: e.db})
		ctx := context.Background()
		alice, aliceTok := e.user("alice")
		created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"}))
		roomID := created.RoomID
		send := func(content any) mid.EventID {
			t.Helper()
			return must[*mautrix.RespSendEvent](t, "send")(alice.SendMessageEvent(ctx, roomID, mevent.EventMessage, content)).EventID
		}
		fill := func() {
			for i := range 5 {
				send(map[string]any{"msgtype": "m.text", "body": fmt.Sprint("filler ", i)})
			}
		}
		filter := url.QueryEscape(`{"room":{"timeline":{"limit":3}}}`)
		timelineOf := func(body map[string]any) (map[string]map[string]any, bool) {
			tl, _ := syncRoom(t, body, roomID)["timeline"].(map[string]any)
			limited, _ := tl["limited"].(bool)
			return eventsByID(tl["events"]), limited
		}
		relationsOf := func(ev map[string]any) map[string]any {
			m, _ := unsignedOf(ev)["m.relations"].(map[string]any)
			return m
		}

		fill()
		root := send(map[string]any{"msgtype": "m.text", "body": "root"})
		reply := send(relatesTo("reply", "m.thread", root, nil))
		edit := send(relatesTo("* root!", "m.replace", root, map[string]any{"m.new_content": map[string]any{"msgtype": "m.text", "body": "root!"}}))
		initial := e.do("GET", "/_matrix/client/v3/sync?filter="+filter, aliceTok, nil)
		e.expect(initial, http.StatusOK, "")
		evs, limited := timelineOf(initial.body)
		if !limited || evs[string(root)] == nil {
			t.Fatalf("initial sync: limited %v, root present %v", limited, evs[string(root)] != nil)
		}
		rel := relationsOf(evs[string(root)])
		thread, _ := rel["m.thread"].(map[string]any)
		latest, _ := thread["latest_event"].(map[string]any)
		if thread["count"] != float64(1) || latest["event_id"] != string(reply) {
			t.Errorf("initial sync: m.thread = %v", thread)
		}
		if replace, _ := rel["m.replace"].(map[string]any); replace["event_id"] != string(edit) {
			t.Errorf("initial sync: m.replace = %v", rel["m.replace"])
		}

		// Incremental, limited.
		fill()
		root2 := send(map[string]any{"msgtype": "m.text", "body": "root 2"})
		send(relatesTo("reply 2", "m.thread", root2, nil))
		next := e.do("GET", "/_matrix/client/v3/sync?filter="+filter+"&since="+url.QueryEscape(initial.str("next_batch")), aliceTok, nil)
		e.expect(next, http.StatusOK, "")
		evs, limited = timelineOf(next.body)
		if !limited || relationsOf(evs[string(root2)])["m.thread"] == nil {
			t.Errorf("incremental limited sync: limited %v, root 2 relations %v", limited, relationsOf(evs[string(root2)]))
		}

		// Incremental, not limited: the client aggregates itself.
		root3 := send(map[string]any{"msgtype": "m.text", "body": "root 3"})
		send(relatesTo("reply 3", "m.thread", root3, nil))
		last := e.do("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(next.str("next_batch")), aliceTok, nil)
		evs, limited = timelineOf(last.body)
		if limited || evs[string(root3)] == nil || relationsOf(evs[string(root3)]) != nil {
			t.Errorf("unlimited sync: limited %v, root 3 relations %v", limited, relationsOf(evs[string(root3)]))
		}
	})
}
