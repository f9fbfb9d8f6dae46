package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/synapseadmin"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// testEnv is the real stack for the account endpoints: the router, the
// account service and a SQLite store in t.TempDir().
type testEnv struct {
	t   *testing.T
	h   http.Handler
	srv *Server
	db  *store.DB
}

// openTestStore opens the store at dsn, closed when the test ends.
func openTestStore(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnv(t *testing.T, configure func(*Server)) *testEnv {
	t.Helper()
	db := openTestStore(t, storetest.SQLiteDSN(t))
	s := &Server{
		ServerName:   "hafen.test",
		Store:        &account.Service{DB: db},
		Registration: Registration{Enabled: true},
		BcryptCost:   bcrypt.MinCost,
	}
	if configure != nil {
		configure(s)
	}
	rt := httpapi.NewRouter()
	s.Routes(rt)
	return &testEnv{t: t, h: httpapi.Middleware(nil, rt), srv: s, db: db}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) str(key string) string { s, _ := r.body[key].(string); return s }

// do sends a request through the full middleware stack and router.
func (e *testEnv) do(method, path, token string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := resp{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			e.t.Fatalf("%s %s: response %q is not a JSON object", method, path, rec.Body.String())
		}
	}
	return r
}

func (e *testEnv) expect(r resp, status int, errcode string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if errcode != "" && r.str("errcode") != errcode {
		e.t.Fatalf("errcode = %q, want %s; body %s", r.str("errcode"), errcode, r.raw)
	}
}

// register creates an account through the dummy flow.
func (e *testEnv) register(username, password string) resp {
	e.t.Helper()
	body := map[string]any{"username": username, "password": password}
	r := e.do("POST", "/_matrix/client/v3/register", "", body)
	e.expect(r, 401, "")
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": r.str("session")}
	r = e.do("POST", "/_matrix/client/v3/register", "", body)
	e.expect(r, 200, "")
	return r
}

func (e *testEnv) login(user, password, deviceID string) resp {
	e.t.Helper()
	body := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	}
	if deviceID != "" {
		body["device_id"] = deviceID
	}
	return e.do("POST", "/_matrix/client/v3/login", "", body)
}

func passwordAuth(user, password, session string) map[string]any {
	return map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
		"session":    session,
	}
}

func TestRegisterLoginWhoamiLogout(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.register("Alice", "wonderland")
	if reg.str("user_id") != "@alice:hafen.test" {
		t.Errorf("user_id = %q, want the lowercased @alice:hafen.test", reg.str("user_id"))
	}
	if reg.str("access_token") == "" || reg.str("device_id") == "" || reg.str("home_server") != "hafen.test" {
		t.Errorf("register response = %v, want access_token, device_id and home_server", reg.body)
	}

	who := e.do("GET", "/_matrix/client/v3/account/whoami", reg.str("access_token"), nil)
	e.expect(who, 200, "")
	if who.str("user_id") != "@alice:hafen.test" || who.str("device_id") != reg.str("device_id") || who.body["is_guest"] != false {
		t.Errorf("whoami = %v", who.body)
	}

	// Spec login: m.id.user takes a localpart or a full user ID.
	for _, user := range []string{"alice", "@alice:hafen.test"} {
		l := e.login(user, "wonderland", "")
		e.expect(l, 200, "")
		if l.str("user_id") != "@alice:hafen.test" || l.str("access_token") == "" {
			t.Errorf("login(%s) = %v", user, l.body)
		}
	}
	e.expect(e.login("alice", "wrong", ""), 403, "M_FORBIDDEN")
	e.expect(e.login("nobody", "wonderland", ""), 403, "M_FORBIDDEN")
	e.expect(e.login("@alice:other.test", "wonderland", ""), 403, "M_FORBIDDEN")

	// The deprecated top-level "user" field still works.
	legacy := e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "user": "alice", "password": "wonderland",
	})
	e.expect(legacy, 200, "")

	tok := legacy.str("access_token")
	e.expect(e.do("POST", "/_matrix/client/v3/logout", tok, nil), 200, "")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil), 401, "M_UNKNOWN_TOKEN")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", "", nil), 401, "M_MISSING_TOKEN")
	// The registration token still works: logout ended one device only.
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", reg.str("access_token"), nil), 200, "")

	// The deprecated query parameter is accepted.
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami?access_token="+reg.str("access_token"), "", nil), 200, "")

	e.expect(e.do("POST", "/_matrix/client/v3/logout/all", reg.str("access_token"), nil), 200, "")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", reg.str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")
	devs, _ := e.srv.Store.Devices(t.Context(), "@alice:hafen.test")
	if len(devs) != 0 {
		t.Errorf("after logout/all, devices = %v, want none", devs)
	}
}

func TestLoginDeviceReuse(t *testing.T) {
	e := newEnv(t, nil)
	e.register("bob", "pw")
	e.expect(e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "bob"},
		"password": "pw", "initial_device_display_name": strings.Repeat("x", 101),
	}), 400, "M_INVALID_PARAM")
	first := e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "bob"},
		"password": "pw", "device_id": "PHONE", "initial_device_display_name": "Bob's phone",
	})
	e.expect(first, 200, "")
	if first.str("device_id") != "PHONE" {
		t.Fatalf("device_id = %q, want the requested PHONE", first.str("device_id"))
	}
	second := e.login("bob", "pw", "PHONE")
	e.expect(second, 200, "")
	// Spec: "the server will invalidate any access and refresh tokens
	// previously assigned to that device".
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", first.str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")
	d := e.do("GET", "/_matrix/client/v3/devices/PHONE", second.str("access_token"), nil)
	e.expect(d, 200, "")
	if d.str("display_name") != "Bob's phone" {
		t.Errorf("display name = %q, want the one given at first login", d.str("display_name"))
	}
}

func TestRegistrationRules(t *testing.T) {
	e := newEnv(t, nil)
	e.register("carol", "pw")
	tests := []struct {
		name    string
		path    string
		body    any
		status  int
		errcode string
	}{
		{"spec register 403: guests are not supported", "/_matrix/client/v3/register?kind=guest", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"unknown kind", "/_matrix/client/v3/register?kind=robot", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"spec register 400: taken before UIA", "/_matrix/client/v3/register", map[string]any{"username": "carol", "password": "x"}, 400, "M_USER_IN_USE"},
		{"spec register 400: invalid username before UIA", "/_matrix/client/v3/register", map[string]any{"username": "caröl", "password": "x"}, 400, "M_INVALID_USERNAME"},
		{"a user ID is not a username", "/_matrix/client/v3/register", map[string]any{"username": "@dave:hafen.test", "password": "x"}, 400, "M_INVALID_USERNAME"},
		{"too long for 255 bytes", "/_matrix/client/v3/register", map[string]any{"username": strings.Repeat("a", 250), "password": "x"}, 400, "M_INVALID_USERNAME"},
		{"spec UIA: no auth → 401 even with a dummy flow", "/_matrix/client/v3/register", map[string]any{"username": "dave", "password": "x"}, 401, ""},
		{"appservice registration", "/_matrix/client/v3/register", map[string]any{"auth": map[string]any{"type": "m.login.application_service"}}, 403, "M_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.expect(e.do("POST", tc.path, "", tc.body), tc.status, tc.errcode)
		})
	}
	e.t = t

	avail := e.do("GET", "/_matrix/client/v3/register/available?username=dave", "", nil)
	e.expect(avail, 200, "")
	if avail.body["available"] != true {
		t.Errorf("available = %v", avail.body)
	}
	e.expect(e.do("GET", "/_matrix/client/v3/register/available?username=carol", "", nil), 400, "M_USER_IN_USE")
	e.expect(e.do("GET", "/_matrix/client/v3/register/available?username=Bad!", "", nil), 400, "M_INVALID_USERNAME")
	e.expect(e.do("GET", "/_matrix/client/v3/register/available", "", nil), 400, "M_MISSING_PARAM")

	// Without a username the server picks one.
	r := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"password": "pw"})
	r = e.do("POST", "/_matrix/client/v3/register", "", map[string]any{
		"password": "pw", "inhibit_login": true,
		"auth": map[string]any{"type": "m.login.dummy", "session": r.str("session")},
	})
	e.expect(r, 200, "")
	if uid := id.UserID(r.str("user_id")); !id.ValidLocalpart(uid.Localpart()) || uid.Domain() != "hafen.test" {
		t.Errorf("generated user_id = %q", uid)
	}
	if _, ok := r.body["access_token"]; ok {
		t.Errorf("inhibit_login returned an access token: %v", r.body)
	}
}

func TestRegistrationDisabled(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Registration.Enabled = false })
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "x", "password": "y"}), 403, "M_FORBIDDEN")
	e.expect(e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc", "", nil), 403, "M_FORBIDDEN")
	// Without a shared secret the admin API does not exist.
	e.expect(e.do("GET", "/_synapse/admin/v1/register", "", nil), 404, "M_UNRECOGNIZED")
}

func TestUIAFlow(t *testing.T) {
	e := newEnv(t, nil)
	body := map[string]any{"username": "erin", "password": "pw"}
	first := e.do("POST", "/_matrix/client/v3/register", "", body)
	e.expect(first, 401, "")
	flows, _ := first.body["flows"].([]any)
	if len(flows) != 1 || fmt.Sprint(flows[0]) != "map[stages:[m.login.dummy]]" {
		t.Errorf("flows = %v, want one m.login.dummy flow", first.body["flows"])
	}
	if first.str("session") == "" || first.body["params"] == nil {
		t.Errorf("challenge = %v, want session and params", first.body)
	}

	// A stage that is not in any flow fails with errcode in the 401 body.
	body["auth"] = map[string]any{"type": "m.login.password", "session": first.str("session")}
	bad := e.do("POST", "/_matrix/client/v3/register", "", body)
	e.expect(bad, 401, "M_FORBIDDEN")
	if bad.str("session") != first.str("session") {
		t.Errorf("session changed after a failed stage: %q → %q", first.str("session"), bad.str("session"))
	}

	// An unknown session starts over.
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": "nope"}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 401, "M_UNKNOWN")

	body["auth"] = map[string]any{"type": "m.login.dummy", "session": first.str("session")}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 200, "")

	// A completed session authorizes one request only.
	body["username"] = "erin2"
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 401, "M_UNKNOWN")

	// Sessions expire.
	now := time.Now()
	e.srv.Now = func() time.Time { return now }
	body["username"] = "erin3"
	delete(body, "auth")
	c := e.do("POST", "/_matrix/client/v3/register", "", body)
	now = now.Add(uiaTTL + time.Minute)
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": c.str("session")}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 401, "M_UNKNOWN")
}

func TestRegistrationTokenFlow(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Registration.RequireToken = true })
	one := int64(1)
	err := e.db.Write(t.Context(), func(tx *store.Tx) error {
		return tx.CreateRegistrationToken(t.Context(), store.RegistrationToken{Token: "fBVFdqVE", UsesAllowed: &one})
	})
	if err != nil {
		t.Fatal(err)
	}

	v := e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=fBVFdqVE", "", nil)
	e.expect(v, 200, "")
	if v.body["valid"] != true {
		t.Errorf("validity = %v, want true", v.body)
	}
	v = e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=wrong", "", nil)
	if v.body["valid"] != false {
		t.Errorf("validity of an unknown token = %v, want false", v.body)
	}

	body := map[string]any{"username": "frank", "password": "pw"}
	c := e.do("POST", "/_matrix/client/v3/register", "", body)
	e.expect(c, 401, "")
	if !strings.Contains(c.raw, "m.login.registration_token") || strings.Contains(c.raw, "m.login.dummy") {
		t.Fatalf("flows = %v, want only m.login.registration_token", c.body["flows"])
	}
	body["auth"] = map[string]any{"type": "m.login.dummy", "session": c.str("session")}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 401, "M_FORBIDDEN")
	body["auth"] = map[string]any{"type": "m.login.registration_token", "token": "wrong", "session": c.str("session")}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 401, "M_UNAUTHORIZED")
	body["auth"] = map[string]any{"type": "m.login.registration_token", "token": "fBVFdqVE", "session": c.str("session")}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", body), 200, "")

	// The token had one use.
	v = e.do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=fBVFdqVE", "", nil)
	if v.body["valid"] != false {
		t.Errorf("validity after its last use = %v, want false", v.body)
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.register("gina", "pw")
	tok := reg.str("access_token")
	other := e.login("gina", "pw", "LAPTOP")
	e.expect(other, 200, "")

	list := e.do("GET", "/_matrix/client/v3/devices", tok, nil)
	e.expect(list, 200, "")
	devs, _ := list.body["devices"].([]any)
	if len(devs) != 2 {
		t.Fatalf("devices = %v, want 2", list.body)
	}
	// The device that made the request was seen, and from where (the
	// sessions list of Element shows it); LAPTOP made none yet.
	for _, d := range devs {
		d := d.(map[string]any)
		ts, _ := d["last_seen_ts"].(float64)
		ip, _ := d["last_seen_ip"].(string)
		if used := d["device_id"] == reg.str("device_id"); used != (ts > 0 && ip != "") {
			t.Errorf("device %v: last_seen_ts %v, last_seen_ip %q", d["device_id"], ts, ip)
		}
	}
	e.expect(e.do("PUT", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"display_name": "Work laptop"}), 200, "")
	d := e.do("GET", "/_matrix/client/v3/devices/LAPTOP", tok, nil)
	if d.str("display_name") != "Work laptop" || d.str("device_id") != "LAPTOP" {
		t.Errorf("device = %v", d.body)
	}
	e.expect(e.do("GET", "/_matrix/client/v3/devices/NOPE", tok, nil), 404, "M_NOT_FOUND")
	e.expect(e.do("PUT", "/_matrix/client/v3/devices/NOPE", tok, map[string]any{"display_name": "x"}), 404, "M_NOT_FOUND")
	// Other users see device names: they are kept to 100 characters.
	e.expect(e.do("PUT", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"display_name": strings.Repeat("ü", 100)}), 200, "")
	e.expect(e.do("PUT", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"display_name": strings.Repeat("x", 101)}), 400, "M_INVALID_PARAM")

	// DELETE: first the challenge (an empty body is allowed), then the
	// password stage.
	c := e.do("DELETE", "/_matrix/client/v3/devices/LAPTOP", tok, nil)
	e.expect(c, 401, "")
	if !strings.Contains(c.raw, "m.login.password") {
		t.Fatalf("flows = %v, want m.login.password", c.body["flows"])
	}
	wrong := e.do("DELETE", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"auth": passwordAuth("gina", "bad", c.str("session"))})
	e.expect(wrong, 401, "M_FORBIDDEN")
	// Another user's identifier is refused even with a right password.
	e.register("hank", "pw")
	e.expect(e.do("DELETE", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"auth": passwordAuth("hank", "pw", c.str("session"))}), 401, "M_FORBIDDEN")
	e.expect(e.do("DELETE", "/_matrix/client/v3/devices/LAPTOP", tok, map[string]any{"auth": passwordAuth("gina", "pw", c.str("session"))}), 200, "")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", other.str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")

	// Bulk deletion.
	a := e.login("gina", "pw", "A")
	e.login("gina", "pw", "B")
	e.expect(e.do("POST", "/_matrix/client/v3/delete_devices", tok, map[string]any{}), 400, "M_MISSING_PARAM")
	c = e.do("POST", "/_matrix/client/v3/delete_devices", tok, map[string]any{"devices": []string{"A", "B"}})
	e.expect(c, 401, "")
	e.expect(e.do("POST", "/_matrix/client/v3/delete_devices", tok, map[string]any{
		"devices": []string{"A", "B"}, "auth": passwordAuth("@gina:hafen.test", "pw", c.str("session")),
	}), 200, "")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", a.str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")
	list = e.do("GET", "/_matrix/client/v3/devices", tok, nil)
	if devs, _ := list.body["devices"].([]any); len(devs) != 1 {
		t.Errorf("devices after deletions = %v, want only the current one", list.body)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.register("ivan", "old")
	tok := reg.str("access_token")
	other := e.login("ivan", "old", "")

	e.expect(e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{}), 400, "M_MISSING_PARAM")
	c := e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "new"})
	e.expect(c, 401, "")
	e.expect(e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{
		"new_password": "new", "auth": passwordAuth("ivan", "wrong", c.str("session")),
	}), 401, "M_FORBIDDEN")
	e.expect(e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{
		"new_password": "new", "auth": passwordAuth("ivan", "old", c.str("session")),
	}), 200, "")

	e.expect(e.login("ivan", "old", ""), 403, "M_FORBIDDEN")
	e.expect(e.login("ivan", "new", ""), 200, "")
	// Spec: the token used is kept; logout_devices defaults to true.
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil), 200, "")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", other.str("access_token"), nil), 401, "M_UNKNOWN_TOKEN")

	// logout_devices: false keeps the other devices.
	keep := e.login("ivan", "new", "")
	c = e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{"new_password": "newer"})
	e.expect(e.do("POST", "/_matrix/client/v3/account/password", tok, map[string]any{
		"new_password": "newer", "logout_devices": false, "auth": passwordAuth("ivan", "new", c.str("session")),
	}), 200, "")
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", keep.str("access_token"), nil), 200, "")

	// A password change needs an access token.
	e.expect(e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "x"}), 401, "M_MISSING_TOKEN")
}

func TestDeactivate(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.register("judy", "pw")
	tok := reg.str("access_token")
	c := e.do("POST", "/_matrix/client/v3/account/deactivate", tok, map[string]any{})
	e.expect(c, 401, "")
	r := e.do("POST", "/_matrix/client/v3/account/deactivate", tok, map[string]any{"auth": passwordAuth("judy", "pw", c.str("session"))})
	e.expect(r, 200, "")
	if r.str("id_server_unbind_result") != "success" {
		t.Errorf("id_server_unbind_result = %v, want success", r.body)
	}
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil), 401, "M_UNKNOWN_TOKEN")
	// Deactivation wipes the password, so the old one no longer proves
	// anything: M_FORBIDDEN, which the spec allows for a failed login.
	e.expect(e.login("judy", "pw", ""), 403, "M_FORBIDDEN")
	// The user ID is not given out again.
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "judy", "password": "x"}), 400, "M_USER_IN_USE")
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.WellKnownServer = "hafen.test:8448" })
	v := e.do("GET", "/_matrix/client/versions", "", nil)
	e.expect(v, 200, "")
	if !strings.Contains(v.raw, `"v1.1"`) || !strings.Contains(v.raw, `"v1.5"`) {
		t.Errorf("versions = %s", v.raw)
	}
	wk := e.do("GET", "/.well-known/matrix/client", "", nil)
	e.expect(wk, 200, "")
	if hs, _ := wk.body["m.homeserver"].(map[string]any); hs["base_url"] != "http://example.com" {
		t.Errorf("well-known client = %v, want the request's base URL", wk.body)
	}
	ws := e.do("GET", "/.well-known/matrix/server", "", nil)
	if ws.str("m.server") != "hafen.test:8448" {
		t.Errorf("well-known server = %v", ws.body)
	}
	if ws.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("well-known lacks CORS headers, which the spec asks for")
	}
	lf := e.do("GET", "/_matrix/client/v3/login", "", nil)
	if !strings.Contains(lf.raw, `"m.login.password"`) {
		t.Errorf("login flows = %s", lf.raw)
	}

	e.expect(e.do("GET", "/_matrix/client/v3/capabilities", "", nil), 401, "M_MISSING_TOKEN")
	reg := e.register("kim", "pw")
	c := e.do("GET", "/_matrix/client/v3/capabilities", reg.str("access_token"), nil)
	e.expect(c, 200, "")
	caps, _ := c.body["capabilities"].(map[string]any)
	rv, _ := caps["m.room_versions"].(map[string]any)
	avail, _ := rv["available"].(map[string]any)
	if rv["default"] != "12" || len(avail) != 12 || avail["1"] != "stable" || avail["12"] != "stable" {
		t.Errorf("m.room_versions = %v, want default 12 and 1–12 stable", rv)
	}
	if cp, _ := caps["m.change_password"].(map[string]any); cp["enabled"] != true {
		t.Errorf("m.change_password = %v", caps["m.change_password"])
	}
}

func TestSharedSecretRegistration(t *testing.T) {
	const secret = "a-very-long-shared-secret"
	e := newEnv(t, func(s *Server) { s.Registration = Registration{SharedSecret: secret} })
	nonce := func() string {
		r := e.do("GET", "/_synapse/admin/v1/register", "", nil)
		e.expect(r, 200, "")
		return r.str("nonce")
	}
	// The MAC is computed by mautrix's synapseadmin package, an independent
	// implementation of Synapse's documented format.
	sign := func(req synapseadmin.ReqSharedSecretRegister, key string) map[string]any {
		req.SHA1Checksum = req.Sign(key)
		data, _ := json.Marshal(req)
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		return m
	}
	req := synapseadmin.ReqSharedSecretRegister{Username: "root", Password: "pw", Admin: true, Nonce: nonce()}
	r := e.do("POST", "/_synapse/admin/v1/register", "", sign(req, secret))
	e.expect(r, 200, "")
	if r.str("user_id") != "@root:hafen.test" || r.str("access_token") == "" {
		t.Fatalf("response = %v", r.body)
	}
	if u, err := e.db.User(t.Context(), "@root:hafen.test"); err != nil || !u.IsAdmin {
		t.Error("admin flag not stored")
	}
	// The nonce is single-use.
	e.expect(e.do("POST", "/_synapse/admin/v1/register", "", sign(req, secret)), 400, "M_UNKNOWN")

	tests := []struct {
		name    string
		req     synapseadmin.ReqSharedSecretRegister
		key     string
		tamper  func(map[string]any)
		status  int
		errcode string
	}{
		{"wrong secret", synapseadmin.ReqSharedSecretRegister{Username: "u1", Password: "pw"}, "wrong", nil, 403, "M_FORBIDDEN"},
		{"admin flag flipped after signing", synapseadmin.ReqSharedSecretRegister{Username: "u2", Password: "pw"}, secret,
			func(m map[string]any) { m["admin"] = true }, 403, "M_FORBIDDEN"},
		{"user_type is part of the MAC", synapseadmin.ReqSharedSecretRegister{Username: "u3", Password: "pw", UserType: "bot"}, secret, nil, 200, ""},
		{"user_type dropped after signing", synapseadmin.ReqSharedSecretRegister{Username: "u4", Password: "pw", UserType: "bot"}, secret,
			func(m map[string]any) { delete(m, "user_type") }, 403, "M_FORBIDDEN"},
		{"MAC not hex", synapseadmin.ReqSharedSecretRegister{Username: "u5", Password: "pw"}, secret,
			func(m map[string]any) { m["mac"] = "zz" }, 403, "M_FORBIDDEN"},
		{"taken username", synapseadmin.ReqSharedSecretRegister{Username: "root", Password: "pw"}, secret, nil, 400, "M_USER_IN_USE"},
		{"invalid username", synapseadmin.ReqSharedSecretRegister{Username: "Root!", Password: "pw"}, secret, nil, 400, "M_INVALID_USERNAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			tc.req.Nonce = nonce()
			body := sign(tc.req, tc.key)
			if tc.tamper != nil {
				tc.tamper(body)
			}
			e.expect(e.do("POST", "/_synapse/admin/v1/register", "", body), tc.status, tc.errcode)
		})
	}
	e.t = t

	// Nonces expire after a minute.
	now := time.Now()
	e.srv.Now = func() time.Time { return now }
	req = synapseadmin.ReqSharedSecretRegister{Username: "late", Password: "pw", Nonce: nonce()}
	now = now.Add(2 * nonceTTL)
	e.expect(e.do("POST", "/_synapse/admin/v1/register", "", sign(req, secret)), 400, "M_UNKNOWN")
}

func TestRateLimiting(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(s *Server) {
		s.Limiter = httpapi.NewRateLimiter(map[string]httpapi.Rate{ActionLogin: {PerSecond: 0.1, Burst: 2}})
		s.Limiter.Now = func() time.Time { return now }
	})
	e.register("leo", "pw")
	e.expect(e.login("leo", "pw", ""), 200, "")
	e.expect(e.login("leo", "wrong", ""), 403, "M_FORBIDDEN")
	r := e.login("leo", "pw", "")
	e.expect(r, 429, "M_LIMIT_EXCEEDED")
	if ms, _ := r.body["retry_after_ms"].(float64); ms <= 0 || ms > 10000 {
		t.Errorf("retry_after_ms = %v, want (0, 10000]", r.body["retry_after_ms"])
	}
	if r.header.Get("Retry-After") != "10" {
		t.Errorf("Retry-After = %q, want 10", r.header.Get("Retry-After"))
	}
	now = now.Add(10 * time.Second)
	e.expect(e.login("leo", "pw", ""), 200, "")
}

func TestRouterErrorsAndCORS(t *testing.T) {
	e := newEnv(t, nil)
	e.expect(e.do("GET", "/_matrix/client/v3/no/such/endpoint", "", nil), 404, "M_UNRECOGNIZED")
	r := e.do("DELETE", "/_matrix/client/v3/login", "", nil)
	e.expect(r, 405, "M_UNRECOGNIZED")
	if !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	pre := e.do("OPTIONS", "/_matrix/client/v3/account/whoami", "", nil)
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("preflight = %d %v", pre.status, pre.header)
	}
	big := `{"username":"` + strings.Repeat("a", httpapi.MaxJSONBodyBytes) + `"}`
	e.expect(e.do("POST", "/_matrix/client/v3/login", "", big), 413, "M_TOO_LARGE")
}

// Malformed input of every kind must end in a 4xx JSON error, never a
// panic or a 500.
func TestMalformedBodies(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Registration.SharedSecret = "s3cret-s3cret" })
	tok := e.register("mallory", "pw").str("access_token")
	huge := strings.Repeat("x", 100_000)
	bodies := []string{
		``, `{`, `[]`, `"str"`, `null`, `42`, "{\"a\":\"\xff\"}", `{"a":1}{"b":2}`,
		`{"auth":"x"}`, `{"auth":[]}`, `{"auth":{"type":5}}`, `{"auth":{"type":"m.login.password","identifier":"x"}}`,
		`{"auth":{"type":"m.login.password","identifier":{"type":"m.id.user","user":5}}}`,
		`{"username":5}`, `{"username":null,"password":null}`, `{"password":{}}`, `{"username":"` + huge + `","password":"x"}`,
		`{"username":"a","password":"` + huge + `"}`, `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"` + huge + `"},"password":"x"}`,
		`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"@:"},"password":"x"}`,
		`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"@a:b:c"},"password":"x"}`,
		`{"type":"m.login.password","identifier":{"type":"m.id.thirdparty","medium":"email","address":"a@b"},"password":"x"}`,
		`{"type":"m.login.token","token":"x"}`, `{"type":7}`, `{"type":"m.login.password"}`,
		`{"device_id":5}`, `{"device_id":"` + huge + `","type":"m.login.password","user":"mallory","password":"pw"}`,
		`{"new_password":["x"]}`, `{"new_password":"x","logout_devices":"yes"}`,
		`{"devices":"A"}`, `{"devices":[1,2]}`, `{"display_name":5}`,
		`{"nonce":5}`, `{"nonce":"x","username":"u","password":"p","mac":"00"}`,
	}
	endpoints := []struct{ method, path, token string }{
		{"POST", "/_matrix/client/v3/register", ""},
		{"POST", "/_matrix/client/v3/login", ""},
		{"POST", "/_matrix/client/v3/account/password", tok},
		{"POST", "/_matrix/client/v3/account/deactivate", tok},
		{"PUT", "/_matrix/client/v3/devices/X", tok},
		{"DELETE", "/_matrix/client/v3/devices/X", tok},
		{"POST", "/_matrix/client/v3/delete_devices", tok},
		{"POST", "/_synapse/admin/v1/register", ""},
	}
	for _, ep := range endpoints {
		for i, b := range bodies {
			t.Run(fmt.Sprintf("%s %s #%d", ep.method, ep.path, i), func(t *testing.T) {
				e.t = t
				r := e.do(ep.method, ep.path, ep.token, b)
				if r.status >= 500 {
					t.Errorf("body %.60q → %d %s", b, r.status, r.raw)
				}
				if r.status >= 400 && r.str("errcode") == "" && r.body["flows"] == nil {
					t.Errorf("body %.60q → %d without errcode: %s", b, r.status, r.raw)
				}
			})
		}
	}
	e.t = t
	// mallory's account survived all of it.
	e.expect(e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil), 200, "")
}

// Query-string and path input that is invalid.
func TestMalformedQueries(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.register("nina", "pw").str("access_token")
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/_matrix/client/v3/register/available?username=" + strings.Repeat("a", 300), ""},
		{"GET", "/_matrix/client/v3/register/available?username=%00", ""},
		{"GET", "/_matrix/client/v1/register/m.login.registration_token/validity", ""},
		{"GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=" + strings.Repeat("t", 500), ""},
		{"GET", "/_matrix/client/v3/devices/%00%ff", tok},
		{"GET", "/_matrix/client/v3/account/whoami?access_token=%ff", ""},
	} {
		r := e.do(tc.method, tc.path, tc.token, nil)
		if r.status >= 500 {
			t.Errorf("%s %.80s → %d %s", tc.method, tc.path, r.status, r.raw)
		}
	}
}

// A registration without a password is refused before its authentication
// step is spent: the client adds the password and finishes in the same
// session.
func TestRegisterWithoutPasswordKeepsTheSession(t *testing.T) {
	e := newEnv(t, nil)
	first := e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "nopw"})
	e.expect(first, 401, "")
	auth := map[string]any{"type": "m.login.dummy", "session": first.str("session")}
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "nopw", "auth": auth}), 400, "M_MISSING_PARAM")
	e.expect(e.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "nopw", "password": "pw-nopw", "auth": auth}), 200, "")
}
