package room

import (
	"testing"

	"github.com/hafenchat/hafen/internal/store/storetest"
)

// forEachBackend runs f once per backend with the DSN of a fresh, empty
// database: SQLite in t.TempDir() always, PostgreSQL (a schema of its own)
// when HAFEN_TEST_POSTGRES_DSN is set.
func forEachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	storetest.ForEachDSN(t, f)
}
