package account_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/clientapi"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// env is the real stack: router, middleware, clientapi and a store on
// one of the backends (see storetest).
type env struct {
	t  *testing.T
	h  http.Handler
	db *store.DB
}

func newEnv(t *testing.T, dsn string, reg clientapi.Registration) *env {
	t.Helper()
	return newEnvAt(t, dsn, reg, nil)
}

// openStore opens the store at dsn for the test.
func openStore(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newEnvAt is newEnv with the server's clock given (nil for the real one).
func newEnvAt(t *testing.T, dsn string, reg clientapi.Registration, now func() time.Time) *env {
	t.Helper()
	db := openStore(t, dsn)
	s := &clientapi.Server{
		ServerName:   "hafen.test",
		Store:        &account.Service{DB: db},
		Registration: reg,
		BcryptCost:   bcrypt.MinCost,
		Now:          now,
	}
	rt := httpapi.NewRouter()
	s.Routes(rt)
	return &env{t: t, h: httpapi.Middleware(nil, rt), db: db}
}

func (e *env) do(method, path, token string, body any, wantStatus int) map[string]any {
	e.t.Helper()
	var buf bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&buf).Encode(body)
	}
	req := httptest.NewRequest(method, path, &buf)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code != wantStatus {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, rec.Code, rec.Body.String(), wantStatus)
	}
	return out
}

func pwAuth(user, pw, session string) map[string]any {
	return map[string]any{"type": "m.login.password", "session": session, "password": pw,
		"identifier": map[string]any{"type": "m.id.user", "user": user}}
}

func TestAccountLifecycle(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn, clientapi.Registration{Enabled: true})
		body := map[string]any{"username": "alice", "password": "pw", "initial_device_display_name": "Phone"}
		c := e.do("POST", "/_matrix/client/v3/register", "", body, 401)
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": c["session"]}
		reg := e.do("POST", "/_matrix/client/v3/register", "", body, 200)
		tok := reg["access_token"].(string)
		e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "x"}, 400)

		who := e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil, 200)
		if who["user_id"] != "@alice:hafen.test" || who["device_id"] != reg["device_id"] {
			t.Errorf("whoami = %v", who)
		}
		dev := e.do("GET", "/_matrix/client/v3/devices/"+reg["device_id"].(string), tok, nil, 200)
		if dev["display_name"] != "Phone" {
			t.Errorf("device = %v", dev)
		}

		login := func(pw, deviceID string, status int) map[string]any {
			b := map[string]any{"type": "m.login.password", "password": pw,
				"identifier": map[string]any{"type": "m.id.user", "user": "alice"}}
			if deviceID != "" {
				b["device_id"] = deviceID
			}
			return e.do("POST", "/_matrix/client/v3/login", "", b, status)
		}
		laptop := login("pw", "LAPTOP", 200)
		login("pw", "LAPTOP", 200) // reusing a device ID keeps the device
		login("nope", "", 403)
		list := e.do("GET", "/_matrix/client/v3/devices", tok, nil, 200)
		if n := len(list["devices"].([]any)); n != 2 {
			t.Errorf("devices = %v, want 2", list)
		}

		e.do("PUT", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"display_name": "Work"}, 200)
		e.do("PUT", "/_matrix/client/v3/devices/NOPE", tok, map[string]any{"display_name": "x"}, 404)
		c = e.do("DELETE", "/_matrix/client/v3/devices/LAPTOP", tok, nil, 401)
		e.do("DELETE", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"auth": pwAuth("alice", "pw", c["session"].(string))}, 200)
		e.do("GET", "/_matrix/client/v3/account/whoami", laptop["access_token"].(string), nil, 401)

		other := login("pw", "", 200)
		c = e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "pw2"}, 401)
		e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "pw2", "auth": pwAuth("alice", "pw", c["session"].(string))}, 200)
		e.do("GET", "/_matrix/client/v3/account/whoami", other["access_token"].(string), nil, 401)
		e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil, 200)
		login("pw", "", 403)
		login("pw2", "", 200)

		e.do("POST", "/_matrix/client/v3/logout/all", tok, nil, 200)
		e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil, 401)

		fresh := login("pw2", "", 200)
		c = e.do("POST", "/_matrix/client/v3/account/deactivate", fresh["access_token"].(string), map[string]any{}, 401)
		e.do("POST", "/_matrix/client/v3/account/deactivate", fresh["access_token"].(string), map[string]any{"auth": pwAuth("alice", "pw2", c["session"].(string))}, 200)
		e.do("GET", "/_matrix/client/v3/account/whoami", fresh["access_token"].(string), nil, 401)
		// The store wipes the password of a deactivated account, so login
		// fails with M_FORBIDDEN (which the spec allows in that case).
		login("pw2", "", 403)
	})
}

func TestRegistrationTokens(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn, clientapi.Registration{Enabled: true, RequireToken: true})
		one := int64(1)
		if err := e.db.Write(t.Context(), func(tx *store.Tx) error {
			return tx.CreateRegistrationToken(t.Context(), store.RegistrationToken{Token: "fBVFdqVE", UsesAllowed: &one})
		}); err != nil {
			t.Fatal(err)
		}
		v := e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=fBVFdqVE", "", nil, 200)
		if v["valid"] != true {
			t.Fatalf("validity = %v", v)
		}
		for i, name := range []string{"first", "second"} {
			body := map[string]any{"username": name, "password": "pw"}
			c := e.do("POST", "/_matrix/client/v3/register", "", body, 401)
			body["auth"] = map[string]any{"type": "m.login.registration_token", "token": "fBVFdqVE", "session": c["session"]}
			want := 200
			if i == 1 {
				want = 401 // the single use is gone
			}
			e.do("POST", "/_matrix/client/v3/register", "", body, want)
		}
		v = e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=fBVFdqVE", "", nil, 200)
		if v["valid"] != false {
			t.Errorf("validity after use = %v", v)
		}
	})
}

// TestGeneratedRegistrationTokens: a token the server makes up is 26
// characters of A-Z and 2-7, so that it never starts with "-" (which the
// registration-token commands would take for a flag), and each is new.
func TestGeneratedRegistrationTokens(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		s := &account.Service{DB: openStore(t, dsn)}
		form := regexp.MustCompile(`^[A-Z2-7]{26}$`)
		seen := map[string]bool{}
		for range 100 {
			rt, err := s.CreateRegistrationToken(t.Context(), account.NewRegistrationToken{})
			if err != nil {
				t.Fatal(err)
			}
			if !form.MatchString(rt.Token) || seen[rt.Token] {
				t.Fatalf("generated token %q: want a new one of 26 characters of A-Z and 2-7", rt.Token)
			}
			seen[rt.Token] = true
		}
	})
}
