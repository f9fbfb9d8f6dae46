package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/hafenchat/hafen/internal/core/id"
)

// event_search is the full-text index of the text clients search
// (content.body of messages, content.name and content.topic of the room's
// name and topic), one entry per event, keyed by event NID. Its shape is
// the backend's (see dialect.searchSchema), and it lives in the derived
// database (see derived.go). search.Indexer writes it from the committed
// event stream, off the send path.
//
// A redaction cannot remove its target's entry itself, as the index may
// be in another file than the redaction's transaction: it queues the
// target in search_removals, in its own transaction, and the indexer
// removes the entries queued there (RemoveFromSearchIndex) and then the
// queue's rows (DeleteSearchRemovals). Searches skip redacted events in
// the meantime.
const searchRemovalsSchema = `
CREATE TABLE search_removals (
	event_nid BIGINT PRIMARY KEY
)`

// SearchIndexConsumer is the name of the search indexer's stream position.
const SearchIndexConsumer = "search_index"

// SearchText is the searchable text of an event named by its ID.
type SearchText struct {
	EventID id.EventID
	Text    string
}

// IndexEventTexts adds the searchable text of events to the full-text
// index. It is idempotent (an entry already there is kept), and skips an
// event without a stream position or already redacted, so an index that
// follows the stream behind the redactions never indexes a redacted
// event's text. The texts go in as few statements as the dialect's
// parameter limit allows: SQLite's FTS5 writes what it has gathered to
// disk at the start of every statement of a transaction that writes it,
// so a statement per event would write a segment per event, and merge
// them all again. The statements may be queued (see Tx.execLater).
func (t *Tx) IndexEventTexts(ctx context.Context, texts []SearchText) error {
	seen := make(map[id.EventID]bool, len(texts))
	args := make([]any, 0, 2*len(texts))
	for _, st := range texts {
		// One statement cannot insert an event twice.
		if !seen[st.EventID] {
			seen[st.EventID] = true
			// Text with a NUL, which JSON allows and PostgreSQL's text
			// does not, is indexed with a space in its place.
			args = append(args, string(st.EventID), strings.ReplaceAll(st.Text, "\x00", " "))
		}
	}
	if len(args) == 0 {
		return nil
	}
	prefix, suffix := t.d.searchInsert()
	if err := t.insertRows(ctx, prefix, suffix, 2, args); err != nil {
		return fmt.Errorf("index text of %d events: %w", len(seen), err)
	}
	return nil
}

// QueueSearchRemoval queues the removal of an event's entry from the
// full-text index (it was redacted); see search_removals.
func (t *Tx) QueueSearchRemoval(ctx context.Context, nid int64) error {
	return t.execLater(ctx, fmt.Sprintf("queue search removal of event %d", nid),
		`INSERT INTO search_removals (event_nid) VALUES ($1) ON CONFLICT (event_nid) DO NOTHING`, nid)
}

// SearchRemovals returns up to limit event NIDs queued for removal from
// the full-text index, lowest first.
func (r reader) SearchRemovals(ctx context.Context, limit int) ([]int64, error) {
	var out []int64
	err := r.scanRows(ctx, `SELECT event_nid FROM search_removals ORDER BY event_nid LIMIT $1`, []any{limit},
		func(scan func(...any) error) error {
			var nid int64
			if err := scan(&nid); err != nil {
				return err
			}
			out = append(out, nid)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read search removals: %w", err)
	}
	return out, nil
}

// RemoveFromSearchIndex removes events from the full-text index.
func (t *Tx) RemoveFromSearchIndex(ctx context.Context, nids []int64) error {
	for _, nid := range nids {
		if _, err := t.q.ExecContext(ctx, t.d.searchDelete(), nid); err != nil {
			return fmt.Errorf("remove event %d from search index: %w", nid, err)
		}
	}
	return nil
}

// DeleteSearchRemovals deletes queued removals that have been carried
// out.
func (t *Tx) DeleteSearchRemovals(ctx context.Context, nids []int64) error {
	for _, nid := range nids {
		if _, err := t.q.ExecContext(ctx, `DELETE FROM search_removals WHERE event_nid = $1`, nid); err != nil {
			return fmt.Errorf("delete search removal of event %d: %w", nid, err)
		}
	}
	return nil
}

// maxSearchTerms bounds the terms of one query.
const maxSearchTerms = 16

// SearchTerms splits a search string into lower-case terms of letters and
// digits, the only characters that reach the backend's query syntax; at
// most 16 distinct terms.
func SearchTerms(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if !slices.Contains(out, f) && len(out) < maxSearchTerms {
			out = append(out, f)
		}
	}
	return out
}

// SearchQuery selects events by full-text search.
type SearchQuery struct {
	// Terms must all match (as prefixes); see SearchTerms.
	Terms []string
	// Rooms are the rooms searched; none means no result.
	Rooms []id.RoomID
	// Types are the event types searched (m.room.message for
	// content.body, m.room.name, m.room.topic).
	Types []string
	// Recent orders by stream position, newest first; otherwise by rank,
	// best first.
	Recent bool
	// Before, for Recent, returns only events with a smaller stream
	// position (0: no bound); Offset, by rank, skips that many matches.
	Before int64
	Offset int
	Limit  int
}

// SearchHit is a matching event and its rank.
type SearchHit struct {
	Event
	Rank float64
}

// searchTypes are the event types with indexed text; Types must be among
// them (they are written into the statement).
var searchTypes = []string{"m.room.message", "m.room.name", "m.room.topic"}

// searchTypeList returns types as an SQL list of literals, after checking
// that each has indexed text.
func searchTypeList(types []string) (string, error) {
	var out []string
	for _, t := range types {
		if !slices.Contains(searchTypes, t) {
			return "", fmt.Errorf("search: type %q has no indexed text", t)
		}
		out = append(out, "'"+t+"'")
	}
	return strings.Join(out, ", "), nil
}

// searchSQL returns the statement of a search (columns are the event's
// and the rank) with $1 the full-text query, $2 the bound of
// Recent and the rooms list last.
func (r reader) searchSQL(q SearchQuery) (string, error) {
	types, err := searchTypeList(q.Types)
	if err != nil {
		return "", err
	}
	from, nid, where, rank := r.d.searchMatch("$1")
	query := `SELECT ` + prefixedEventColumns + ", " + rank + ` FROM ` + from + ` JOIN events ev ON ev.event_nid = ` + nid + `
		WHERE ` + where + ` AND ev.type IN (` + types + `)
		AND ev.stream_pos IS NOT NULL AND ev.redacted_because IS NULL AND ($2 = 0 OR ev.stream_pos < $2)
		AND ev.room_id ` + anyList(3)
	order := ` ORDER BY ` + rank + ` DESC, ev.stream_pos DESC`
	if q.Recent {
		order = ` ORDER BY ev.stream_pos DESC`
	}
	return query + order + ` LIMIT ` + strconv.Itoa(q.Offset+q.Limit), nil
}

// SearchEvents returns up to q.Limit timeline events matching q, in its
// order. The caller filters them by what the user may see.
func (r reader) SearchEvents(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	if len(q.Terms) == 0 || len(q.Rooms) == 0 || len(q.Types) == 0 || q.Limit <= 0 {
		return nil, nil
	}
	query, err := r.searchSQL(q)
	if err != nil {
		return nil, err
	}
	before := q.Before
	if !q.Recent {
		before = 0
	}
	var out []SearchHit
	err = queryList(ctx, r, query, []any{r.d.searchQuery(q.Terms), before}, idStrings(q.Rooms),
		func(scan func(...any) error) error {
			var h SearchHit
			var rank float64
			e, err := scanEvent(func(dest ...any) error { return scan(append(dest, &rank)...) })
			if err != nil {
				return err
			}
			h.Event, h.Rank = e, rank
			out = append(out, h)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	// The rooms may have been split over several statements: order the
	// union, then skip and cut.
	slices.SortStableFunc(out, func(a, b SearchHit) int {
		if !q.Recent && a.Rank != b.Rank {
			if a.Rank > b.Rank {
				return -1
			}
			return 1
		}
		return int(b.StreamPos - a.StreamPos)
	})
	if q.Offset >= len(out) {
		return nil, nil
	}
	out = out[q.Offset:]
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
