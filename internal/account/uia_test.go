package account_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/clientapi"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// TestUIAAcrossServers runs UIA flows whose steps reach two servers, each
// with its own database handle on one database, as two processes sharing
// a database would, on each backend.
func TestUIAAcrossServers(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		now := time.Now()
		clock := func() time.Time { return now }
		newServer := func() *env {
			return newEnvAt(t, dsn, clientapi.Registration{Enabled: true}, clock)
		}
		a, b := newServer(), newServer()

		// Registration: the challenge from a, the dummy stage on b.
		body := map[string]any{"username": "alice", "password": "pw"}
		c := a.do("POST", "/_matrix/client/v3/register", "", body, 401)
		session, _ := c["session"].(string)
		if session == "" {
			t.Fatalf("challenge = %v, want a session", c)
		}
		body["auth"] = map[string]any{"type": "m.login.password", "session": session}
		bad := b.do("POST", "/_matrix/client/v3/register", "", body, 401)
		if bad["errcode"] != "M_FORBIDDEN" || bad["session"] != session {
			t.Errorf("unexpected stage on b = %v, want M_FORBIDDEN in session %s", bad, session)
		}
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": session}
		reg := b.do("POST", "/_matrix/client/v3/register", "", body, 200)
		tok := reg["access_token"].(string)
		// The session is used up for both servers.
		body["username"] = "alice2"
		if r := a.do("POST", "/_matrix/client/v3/register", "", body, 401); r["errcode"] != "M_UNKNOWN" {
			t.Errorf("reused session on a = %v, want M_UNKNOWN", r)
		}

		// Password change: challenge on b, a wrong password on a, the right
		// one on b.
		c = b.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "pw2"}, 401)
		session = c["session"].(string)
		wrong := a.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "pw2", "auth": pwAuth("alice", "nope", session)}, 401)
		if wrong["errcode"] != "M_FORBIDDEN" || wrong["session"] != session {
			t.Errorf("wrong password on a = %v, want M_FORBIDDEN in session %s", wrong, session)
		}
		// A session started for the password change does not authorize a
		// device deletion, on either server.
		foreign := a.do("POST", "/_matrix/client/v3/delete_devices", tok, map[string]any{"devices": []string{"X"}, "auth": pwAuth("alice", "pw", session)}, 401)
		if foreign["errcode"] != "M_UNKNOWN" || foreign["session"] == session {
			t.Errorf("session used for another request = %v, want M_UNKNOWN and a new session", foreign)
		}
		b.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "pw2", "auth": pwAuth("alice", "pw", session)}, 200)

		// Two requests completing one session at once, one on each server:
		// exactly one of them is authorized.
		delete(body, "auth")
		body["username"] = "carol"
		c = a.do("POST", "/_matrix/client/v3/register", "", body, 401)
		statuses := make(chan int, 2)
		for i, e := range []*env{a, b} {
			go func() {
				req := map[string]any{"username": fmt.Sprint("carol", i), "password": "pw",
					"auth": map[string]any{"type": "m.login.dummy", "session": c["session"]}}
				statuses <- e.status("POST", "/_matrix/client/v3/register", req)
			}()
		}
		got := []int{<-statuses, <-statuses}
		slices.Sort(got)
		if got[0] != 200 || got[1] == 200 {
			t.Errorf("concurrent completions = %v, want one 200", got)
		}

		// A session started on a expires for b too.
		delete(body, "auth")
		body["username"] = "bob"
		c = a.do("POST", "/_matrix/client/v3/register", "", body, 401)
		now = now.Add(16 * time.Minute)
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": c["session"]}
		if r := b.do("POST", "/_matrix/client/v3/register", "", body, 401); r["errcode"] != "M_UNKNOWN" {
			t.Errorf("expired session on b = %v, want M_UNKNOWN", r)
		}
	})
}

// status sends a request and returns the HTTP status; unlike do it may run
// outside the test goroutine.
func (e *env) status(method, path string, body any) int {
	data, err := json.Marshal(body)
	if err != nil {
		return 0
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewReader(data)))
	return rec.Code
}

func TestUIASessionStore(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		db, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s := &account.Service{DB: db}
		t0 := time.UnixMilli(1_700_000_000_000)

		old := clientapi.UIASession{ID: "old", Op: "POST /_matrix/client/v3/register", Created: t0}
		if err := s.CreateUIASession(ctx, old, t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		sess := clientapi.UIASession{ID: "new", Op: "POST /_matrix/client/v3/account/password", UserID: "@alice:hafen.test", Created: t0.Add(time.Hour)}
		// Creating "new" an hour later expires "old".
		if err := s.CreateUIASession(ctx, sess, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UIASession(ctx, "old"); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("UIASession(expired) = %v, want ErrNotFound", err)
		}
		got, err := s.UIASession(ctx, "new")
		if err != nil || got.Op != sess.Op || got.UserID != sess.UserID || !got.Created.Equal(sess.Created) || len(got.Completed) != 0 || got.RegToken != "" {
			t.Errorf("UIASession = %+v, %v; want %+v", got, err, sess)
		}

		sess.Completed = []string{"m.login.registration_token"}
		sess.RegToken = "fBVFdqVE"
		sess.Created = t0 // the creation time is not updated
		if err := s.UpdateUIASession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		got, err = s.UIASession(ctx, "new")
		if err != nil || !slices.Equal(got.Completed, sess.Completed) || got.RegToken != sess.RegToken || !got.Created.Equal(t0.Add(time.Hour)) {
			t.Errorf("UIASession after update = %+v, %v", got, err)
		}
		if err := s.UpdateUIASession(ctx, clientapi.UIASession{ID: "nope"}); !errors.Is(err, account.ErrNotFound) {
			t.Errorf("UpdateUIASession(unknown) = %v, want ErrNotFound", err)
		}

		for i, want := range []bool{true, false} {
			if deleted, err := s.DeleteUIASession(ctx, "new"); err != nil || deleted != want {
				t.Errorf("DeleteUIASession #%d = %v, %v; want %v", i+1, deleted, err, want)
			}
		}
	})
}
