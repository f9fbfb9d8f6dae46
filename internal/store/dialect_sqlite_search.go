package store

import "strings"

// SQLite's full-text search is an FTS5 table (modernc.org/sqlite builds
// it in) whose rowid is the event's NID, tokenised by unicode61 with the
// Porter stemmer, ranked by bm25. FTS5 has no unique constraint: an
// insert checks the NID is not indexed yet.

func (sqliteDialect) searchSchema() []string {
	return []string{`CREATE VIRTUAL TABLE event_search USING fts5(content, tokenize = 'porter unicode61')`}
}

func (sqliteDialect) searchInsert() (prefix, suffix string) {
	return `INSERT INTO event_search (rowid, content)
		SELECT events.event_nid, texts.column2 FROM (`,
		`) AS texts JOIN events ON events.event_id = texts.column1
		WHERE events.stream_pos IS NOT NULL AND events.redacted_because IS NULL
		AND NOT EXISTS (SELECT 1 FROM event_search WHERE event_search.rowid = events.event_nid)`
}

func (sqliteDialect) searchDelete() string { return `DELETE FROM event_search WHERE rowid = $1` }

// searchMatch: bm25 is smaller for better matches, so the rank is its
// negation.
func (sqliteDialect) searchMatch(n string) (from, nid, where, rank string) {
	return "event_search", "event_search.rowid", "event_search MATCH " + n, "-bm25(event_search)"
}

// searchQuery makes every term a quoted prefix query, all of which must
// match.
func (sqliteDialect) searchQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + t + `"*`
	}
	return strings.Join(parts, " ")
}
