// Spec: Client-Server API § Forming relationships between events (Relationships API), § Threading (fetching all threads in a room)
// OpenAPI: data/api/client-server/relations.yaml
// OpenAPI: data/api/client-server/threads_list.yaml
// https://spec.matrix.org/v1.19/client-server-api/#relationships-api

package clientapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/relations"
	"github.com/hafenchat/hafen/internal/store"
)

// Relations answers relationship queries. relations.Service implements
// it.
type Relations interface {
	Children(ctx context.Context, user id.UserID, q relations.Query) (relations.Page, error)
	Threads(ctx context.Context, user id.UserID, q relations.ThreadsQuery) (relations.ThreadsPage, error)
	Aggregations(ctx context.Context, user id.UserID, roomID id.RoomID, events []store.Event) (map[id.EventID]*relations.Aggregation, error)
}

var _ Relations = (*relations.Service)(nil)

// Limits of /relations and /threads pages.
const (
	defaultRelationsLimit = 10
	defaultThreadsLimit   = 10
	maxThreadsLimit       = 100
)

// relationsRoutes registers the relationship endpoints.
func (s *Server) relationsRoutes(rt *httpapi.Router, a *roomAPI) {
	const v1 = "/_matrix/client/v1"
	rt.Handle("GET "+v1+"/rooms/{roomId}/relations/{eventId}", s.authed(a.getRelatingEvents))
	rt.Handle("GET "+v1+"/rooms/{roomId}/relations/{eventId}/{relType}", s.authed(a.getRelatingEvents))
	rt.Handle("GET "+v1+"/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", s.authed(a.getRelatingEvents))
	rt.Handle("GET "+v1+"/rooms/{roomId}/threads", s.authed(a.getThreadRoots))
}

// getRelatingEvents returns a page of the children of an event, of any
// relationship type or of the one in the path (and of the event type in
// the path).
//
// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}
// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}
// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}
//
// (getRelatingEvents, getRelatingEventsWithRelType,
// getRelatingEventsWithRelTypeAndEventType.) Children come in topological
// order, newest first unless dir=f; an event the user may not see, in a
// room they may not read, is 404 M_NOT_FOUND as the spec says.
func (a *roomAPI) getRelatingEvents(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, eventID, err := pathRoomEventID(r)
	if err != nil {
		return err
	}
	relType, eventType := r.PathValue("relType"), r.PathValue("eventType")
	if eventType != "" {
		if err := checkEventType(eventType); err != nil {
			return err
		}
	}
	q := r.URL.Query()
	dir := store.Backward
	switch q.Get("dir") {
	case "", "b":
	case "f":
		dir = store.Forward
	default:
		return matrixerr.InvalidParam("dir must be b or f")
	}
	limit, err := parseLimit(q, defaultRelationsLimit)
	if err != nil {
		return err
	}
	if limit == 0 {
		// A page of nothing would hand back the token it started from:
		// limit=0 is accepted, as /messages accepts it, and means the
		// default.
		limit = defaultRelationsLimit
	}
	var recurse, recurseGiven bool
	switch q.Get("recurse") {
	case "":
	case "true":
		recurse, recurseGiven = true, true
	case "false":
		recurseGiven = true
	default:
		return matrixerr.InvalidParam("recurse must be true or false")
	}
	ctx := r.Context()
	v, err := a.view(ctx, roomID, sess.UserID)
	if err != nil {
		var me *matrixerr.Error
		if errors.As(err, &me) && me.Kind == matrixerr.KindForbidden {
			return matrixerr.NotFound("event not found")
		}
		return err
	}
	if _, err := a.visibleEvent(ctx, roomID, eventID, sess.UserID, v.joined); err != nil {
		return err
	}
	from, to := store.MaxTopoPos, store.TopoPos{}
	if dir == store.Forward {
		from, to = to, from
	}
	if tok := q.Get("from"); tok != "" {
		pt, err := parsePageToken("from", tok)
		if err != nil {
			return err
		}
		if from, err = a.topoPos(ctx, roomID, pt); err != nil {
			return err
		}
	}
	if tok := q.Get("to"); tok != "" {
		pt, err := parsePageToken("to", tok)
		if err != nil {
			return err
		}
		if to, err = a.topoPos(ctx, roomID, pt); err != nil {
			return err
		}
	}
	page, err := a.rel.Children(ctx, sess.UserID, relations.Query{
		RoomID: roomID, Parent: eventID, RelType: relType, EventType: eventType,
		From: from, To: to, Dir: dir, Limit: limit, Recurse: recurse,
	})
	if err != nil {
		return err
	}
	chunk, err := a.formatter(roomID, v.version, sess).formatAll(ctx, page.Events)
	if err != nil {
		return err
	}
	resp := map[string]any{"chunk": chunk}
	if page.More {
		resp["next_batch"] = topoToken(page.Next)
	}
	if tok := q.Get("from"); tok != "" {
		resp["prev_batch"] = tok
	}
	if recurseGiven {
		resp["recursion_depth"] = page.Depth
	}
	return httpapi.OK(w, resp)
}

// getThreadRoots returns a page of a room's threads, most recently active
// first, each root with its bundled aggregations; the roots sent by users
// the caller ignores come redacted.
//
// GET /_matrix/client/v1/rooms/{roomId}/threads
func (a *roomAPI) getThreadRoots(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var participated bool
	switch q.Get("include") {
	case "", "all":
	case "participated":
		participated = true
	default:
		return matrixerr.InvalidParam("include must be all or participated")
	}
	limit, err := parseLimit(q, defaultThreadsLimit)
	if err != nil {
		return err
	}
	limit = min(max(limit, 1), maxThreadsLimit)
	var before int64
	if tok := q.Get("from"); tok != "" {
		pt, err := parsePageToken("from", tok)
		if err != nil {
			return err
		}
		before = pt.Stream
	}
	ctx := r.Context()
	v, err := a.view(ctx, roomID, sess.UserID)
	if err != nil {
		return err
	}
	page, err := a.rel.Threads(ctx, sess.UserID, relations.ThreadsQuery{RoomID: roomID, Participated: participated, Before: before, Limit: limit})
	if err != nil {
		return err
	}
	f := a.formatter(roomID, v.version, sess)
	chunk, err := f.formatAll(ctx, page.Roots)
	if err != nil {
		return err
	}
	// "If the thread root event was sent by an ignored user, the event is
	// returned redacted to the caller."
	for i, e := range page.Roots {
		if page.FromIgnored[e.EventID] && e.RedactedBecause == "" {
			if chunk[i].Content, chunk[i].Redacts, err = f.redacted(e); err != nil {
				return err
			}
		}
	}
	resp := map[string]any{"chunk": chunk}
	if page.Next > 0 {
		resp["next_batch"] = clientsync.Token(page.Next)
	}
	return httpapi.OK(w, resp)
}

// bundle adds the bundled aggregations (unsigned["m.relations"]) to
// formatted events. Events formatted inside an aggregation (a thread's
// latest event, an edit) get theirs too, one level deep.
func (f *eventFormatter) bundle(ctx context.Context, events []store.Event, out []clientevent.Event) error {
	if f.rel == nil || f.bundleDepth > 1 {
		return nil
	}
	aggs, err := f.rel.Aggregations(ctx, f.userID, f.roomID, events)
	if err != nil || len(aggs) == 0 {
		return err
	}
	f.bundleDepth++
	defer func() { f.bundleDepth-- }()
	for i, e := range events {
		agg, ok := aggs[e.EventID]
		if !ok {
			continue
		}
		raw, err := relations.Render(ctx, agg, f.formatAll)
		if err != nil {
			return err
		}
		if out[i].Unsigned == nil {
			out[i].Unsigned = &clientevent.Unsigned{}
		}
		out[i].Unsigned.Relations = raw
	}
	return nil
}
