package store

import "strings"

// PostgreSQL's full-text search is a tsvector column (the english
// configuration) with a GIN index, ranked by ts_rank.

func (postgresDialect) searchSchema() []string {
	return []string{`CREATE TABLE event_search (
	event_nid BIGINT PRIMARY KEY REFERENCES events (event_nid),
	vector    TSVECTOR NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector)`}
}

func (postgresDialect) searchInsert() (prefix, suffix string) {
	return `INSERT INTO event_search (event_nid, vector)
		SELECT events.event_nid, to_tsvector('english', texts.column2) FROM (`,
		`) AS texts JOIN events ON events.event_id = texts.column1
		WHERE events.stream_pos IS NOT NULL AND events.redacted_because IS NULL
		ON CONFLICT (event_nid) DO NOTHING`
}

func (postgresDialect) searchDelete() string { return `DELETE FROM event_search WHERE event_nid = $1` }

func (postgresDialect) searchMatch(n string) (from, nid, where, rank string) {
	q := "to_tsquery('english', " + n + ")"
	return "event_search", "event_search.event_nid", "event_search.vector @@ " + q, "ts_rank(event_search.vector, " + q + ")"
}

// searchQuery makes every term a prefix query, all of which must match.
func (postgresDialect) searchQuery(terms []string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t + ":*"
	}
	return strings.Join(parts, " & ")
}
