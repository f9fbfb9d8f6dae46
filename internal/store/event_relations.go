package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/hafenchat/hafen/internal/core/id"
)

// event_relations holds the m.relates_to of every timeline event that has
// one (rel_type and the parent's event ID), written by the event path in
// the event's own transaction, so relations, threads and bundled
// aggregations never parse stored JSON to find children. A redacted child
// loses its row: the redaction breaks the relationship.
//
// depth and stream_pos copy the child's topological place, so that
// /relations pages a parent's children in the room's topological order
// from the index alone.
const eventRelationsSchema = `
CREATE TABLE event_relations (
	event_nid        BIGINT PRIMARY KEY REFERENCES events (event_nid),
	room_id          TEXT NOT NULL,
	relates_to       TEXT NOT NULL,
	rel_type         TEXT NOT NULL,
	type             TEXT NOT NULL,
	sender           TEXT NOT NULL,
	depth            BIGINT NOT NULL,
	stream_pos       BIGINT NOT NULL,
	origin_server_ts BIGINT NOT NULL,
	aggregation_key  TEXT
);
CREATE INDEX event_relations_parent ON event_relations (relates_to, depth, stream_pos);
CREATE INDEX event_relations_threads ON event_relations (room_id, rel_type, relates_to)`

// Relation is one child event's relationship to its parent.
type Relation struct {
	EventNID  int64
	RoomID    id.RoomID
	RelatesTo id.EventID
	RelType   string
	// Type is the child's event type.
	Type           string
	Sender         id.UserID
	Depth          int64
	StreamPos      int64
	OriginServerTS int64
	// Key is the annotation key of an m.annotation, else empty.
	Key string
}

// AddRelation records a child event's relationship. The statement may be
// queued (see Tx.execLater).
func (t *Tx) AddRelation(ctx context.Context, r Relation) error {
	return t.execLater(ctx, fmt.Sprintf("record relation of event %d", r.EventNID), `
		INSERT INTO event_relations (event_nid, room_id, relates_to, rel_type, type, sender, depth, stream_pos,
			origin_server_ts, aggregation_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (event_nid) DO NOTHING`,
		r.EventNID, string(r.RoomID), string(r.RelatesTo), r.RelType, r.Type, string(r.Sender), r.Depth, r.StreamPos,
		r.OriginServerTS, nullString(r.Key))
}

// DeleteRelation forgets the relationship of a child event (it was
// redacted). The statement may be queued (see Tx.execLater).
func (t *Tx) DeleteRelation(ctx context.Context, nid int64) error {
	return t.execLater(ctx, fmt.Sprintf("delete relation of event %d", nid),
		`DELETE FROM event_relations WHERE event_nid = $1`, nid)
}

// HasAnnotation reports whether sender has an annotation of the event type
// typ with key on parent that is not redacted (a redacted child has no
// row).
func (r reader) HasAnnotation(ctx context.Context, parent id.EventID, typ string, sender id.UserID, key string) (bool, error) {
	var one int
	err := r.q.QueryRowContext(ctx, `
		SELECT 1 FROM event_relations
		WHERE relates_to = $1 AND rel_type = 'm.annotation' AND type = $2 AND sender = $3 AND aggregation_key = $4
		LIMIT 1`, string(parent), typ, string(sender), key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up annotations of %s by %s: %w", parent, sender, err)
	}
	return true, nil
}

// RelationFilter selects children of one parent for RelatedEvents.
type RelationFilter struct {
	RoomID id.RoomID
	// Parents are the parent event IDs (one for /relations; several when
	// following children recursively).
	Parents []id.EventID
	// RelType and Type, when not empty, select children of that rel_type
	// and event type.
	RelType, Type string
}

// RelatedEvents returns up to limit timeline events relating to the
// filter's parents between two points of the room's topological order, in
// the order of RoomEventsTopo: Forward after from up to to, oldest first;
// Backward up to from and after to, newest first.
func (r reader) RelatedEvents(ctx context.Context, f RelationFilter, from, to TopoPos, dir Direction, limit int) ([]Event, error) {
	var order string
	switch dir {
	case Forward:
		order = "ASC"
	case Backward:
		from, to = to, from
		order = "DESC"
	default:
		return nil, fmt.Errorf("load relations: invalid direction %d", dir)
	}
	if len(f.Parents) == 0 {
		return nil, nil
	}
	// The parents list is the last parameter (see queryList); the optional
	// filters are always bound and switched off with "$n = ''".
	query := `SELECT ` + prefixedEventColumns + ` FROM event_relations r
		JOIN events ev ON ev.event_nid = r.event_nid
		WHERE r.room_id = $1 AND ($2 = '' OR r.rel_type = $2) AND ($3 = '' OR r.type = $3)
		AND r.depth >= $4 AND (r.depth > $4 OR r.stream_pos > $5)
		AND r.depth <= $6 AND (r.depth < $6 OR r.stream_pos <= $7)
		AND r.relates_to ` + anyList(8) + `
		ORDER BY r.depth ` + order + `, r.stream_pos ` + order + ` LIMIT ` + strconv.Itoa(limit)
	var out []Event
	err := queryList(ctx, r, query, []any{string(f.RoomID), f.RelType, f.Type, from.Depth, from.Stream, to.Depth, to.Stream},
		idStrings(f.Parents), func(scan func(...any) error) error {
			e, err := scanEvent(scan)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load relations in %s: %w", f.RoomID, err)
	}
	// The list may have been split over several statements: order and cut
	// the union.
	sortTopo(out, dir)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// sortTopo orders events topologically in the direction given.
func sortTopo(evs []Event, dir Direction) {
	less := func(a, b Event) bool { return TopoPosOf(a).Less(TopoPosOf(b)) }
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0; j-- {
			a, b := evs[j-1], evs[j]
			if dir == Forward && less(a, b) || dir == Backward && less(b, a) {
				break
			}
			evs[j-1], evs[j] = b, a
		}
	}
}

// RelationsOf returns the relationships of the children of the given
// parents in a room whose rel_type is one of relTypes (any when relTypes
// is empty), in no particular
// order. Bundled aggregations read it.
func (r reader) RelationsOf(ctx context.Context, roomID id.RoomID, parents []id.EventID, relTypes []string) ([]Relation, error) {
	out, err := r.relations(ctx, `room_id = $1 AND relates_to `+anyList(2), []any{string(roomID)}, parents, relTypes)
	if err != nil {
		return nil, fmt.Errorf("load relations of %d events in %s: %w", len(parents), roomID, err)
	}
	return out, nil
}

// RelationsOfParents is RelationsOf for parents of any rooms, in one
// query: the sync answer bundles the aggregations of all its rooms'
// timelines at once. Each relationship carries its child's room, which
// callers compare with the parent's.
func (r reader) RelationsOfParents(ctx context.Context, parents []id.EventID, relTypes []string) ([]Relation, error) {
	out, err := r.relations(ctx, `relates_to `+anyList(1), nil, parents, relTypes)
	if err != nil {
		return nil, fmt.Errorf("load relations of %d events: %w", len(parents), err)
	}
	return out, nil
}

// relations reads the relationships matching where (whose last parameter
// is the list of parents) of a rel_type in relTypes (any when empty).
func (r reader) relations(ctx context.Context, where string, args []any, parents []id.EventID, relTypes []string) ([]Relation, error) {
	want := map[string]bool{}
	for _, t := range relTypes {
		want[t] = true
	}
	var out []Relation
	err := queryList(ctx, r, `SELECT event_nid, room_id, relates_to, rel_type, type, sender, depth, stream_pos,
			origin_server_ts, aggregation_key
		FROM event_relations WHERE `+where,
		args, idStrings(parents), func(scan func(...any) error) error {
			var rel Relation
			var key sql.NullString
			if err := scan(&rel.EventNID, &rel.RoomID, &rel.RelatesTo, &rel.RelType, &rel.Type, &rel.Sender,
				&rel.Depth, &rel.StreamPos, &rel.OriginServerTS, &key); err != nil {
				return err
			}
			rel.Key = key.String
			if len(want) == 0 || want[rel.RelType] {
				out = append(out, rel)
			}
			return nil
		})
	return out, err
}

// ThreadRoot is a thread of a room: its root and its latest reply's place
// in the stream.
type ThreadRoot struct {
	RootID    id.EventID
	LatestPos int64
}

// ThreadRoots returns up to limit threads of a room whose latest reply has
// a stream position below before (0: no bound), latest activity first.
// With participant set, only threads that user started or replied to.
func (r reader) ThreadRoots(ctx context.Context, roomID id.RoomID, participant id.UserID, before int64, limit int) ([]ThreadRoot, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	query := `SELECT r.relates_to, MAX(r.stream_pos) AS latest FROM event_relations r
		WHERE r.room_id = $1 AND r.rel_type = 'm.thread'
		GROUP BY r.relates_to
		HAVING MAX(r.stream_pos) < $2 AND ($3 = ''
			OR SUM(CASE WHEN r.sender = $3 THEN 1 ELSE 0 END) > 0
			OR EXISTS (SELECT 1 FROM events root WHERE root.event_id = r.relates_to AND root.sender = $3))
		ORDER BY latest DESC LIMIT $4`
	var out []ThreadRoot
	err := r.scanRows(ctx, query, []any{string(roomID), before, string(participant), limit}, func(scan func(...any) error) error {
		var t ThreadRoot
		if err := scan(&t.RootID, &t.LatestPos); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load threads of %s: %w", roomID, err)
	}
	return out, nil
}
