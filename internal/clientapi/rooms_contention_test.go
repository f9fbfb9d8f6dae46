package clientapi

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/hafenchat/hafen/internal/store/storetest"
)

// staleWriter stands for another process writing to the same database:
// while it is on, every insert into the events table first advances the
// room's generation, as a concurrent writer's commit would, so the persist
// fence of that transaction refuses it (store.ErrStale) and it rolls back.
type staleWriter struct {
	t        *testing.T
	db       *sql.DB
	postgres bool
}

// newStaleWriter opens a second connection to the test's database and
// installs the trigger, disarmed.
func newStaleWriter(t *testing.T, dsn string) *staleWriter {
	t.Helper()
	w := &staleWriter{t: t, postgres: strings.HasPrefix(dsn, "postgres")}
	driver := "sqlite"
	if w.postgres {
		driver = "pgx"
	} else {
		dsn += "?" + url.Values{"_busy_timeout": {"10000"}}.Encode()
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	stmts := []string{`CREATE TABLE test_stale_on (n INTEGER NOT NULL)`, `INSERT INTO test_stale_on (n) VALUES (0)`}
	if w.postgres {
		stmts = append(stmts, `CREATE FUNCTION test_stale_bump() RETURNS trigger AS $$
			BEGIN
				IF (SELECT n FROM test_stale_on) > 0 THEN
					UPDATE rooms SET generation = generation + 1 WHERE room_id = NEW.room_id;
				END IF;
				RETURN NEW;
			END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER test_stale BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_stale_bump()`)
	} else {
		stmts = append(stmts, `CREATE TRIGGER test_stale BEFORE INSERT ON events
			WHEN (SELECT n FROM test_stale_on) > 0
			BEGIN UPDATE rooms SET generation = generation + 1 WHERE room_id = NEW.room_id; END`)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("install the stale writer: %v", err)
		}
	}
	return w
}

// refuse turns the concurrent writer on or off.
func (w *staleWriter) refuse(on bool) {
	w.t.Helper()
	n := 0
	if on {
		n = 1
	}
	if _, err := w.db.Exec(`UPDATE test_stale_on SET n = $1`, n); err != nil {
		w.t.Fatal(err)
	}
}

// TestSendOnContendedRoom checks that a local send whose persist the
// room's fence refuses, because another writer keeps advancing the room,
// never answers 500: the event path retries with the head reloaded, and
// when every attempt is refused the client gets 429 M_LIMIT_EXCEEDED with
// a retry delay (the spec's "retry later" answer), nothing is stored, and
// the same request retried once the room is quiet succeeds.
func TestSendOnContendedRoom(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		e := newRoomEnvDSN(t, dsn)
		stale := newStaleWriter(t, dsn)
		alice, token := e.user("alice")
		ctx := context.Background()
		roomID := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})).RoomID
		path := func(txn string) string {
			return fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/%s", url.PathEscape(string(roomID)), txn)
		}
		body := map[string]any{"msgtype": "m.text", "body": "hello"}

		// Contention that outlasts every attempt: 429, nothing stored.
		stale.refuse(true)
		r := e.do("PUT", path("t1"), token, body)
		e.expect(r, 429, "M_LIMIT_EXCEEDED")
		if ms, ok := r.body["retry_after_ms"].(float64); !ok || ms <= 0 {
			t.Errorf("retry_after_ms = %v, want a positive delay", r.body["retry_after_ms"])
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("429 without a Retry-After header")
		}
		stale.refuse(false)
		msgs := must[*mautrix.RespMessages](t, "messages")(alice.Messages(ctx, roomID, "", "", mautrix.DirectionBackward, nil, 50))
		for _, ev := range msgs.Chunk {
			if ev.Content.Raw["body"] == "hello" {
				t.Fatalf("a refused send stored its event %s", ev.ID)
			}
		}
		// The client's retry of the same request goes through, once.
		r = e.do("PUT", path("t1"), token, body)
		e.expect(r, 200, "")
		first := r.str("event_id")
		if again := e.do("PUT", path("t1"), token, body); again.str("event_id") != first {
			t.Errorf("retry after success = %s, want %s", again.raw, first)
		}
	})
}
