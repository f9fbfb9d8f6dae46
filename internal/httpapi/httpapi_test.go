package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	return m
}

func testStack(logger *slog.Logger) http.Handler {
	rt := NewRouter()
	rt.Handle("GET /things/{id}", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	}))
	rt.Handle("DELETE /things/{id}", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return matrixerr.Forbidden("no")
	}))
	rt.Handle("POST /panic", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var m map[string]int
		m["boom"]++ // nil map write: a real runtime panic
		return nil
	}))
	return Middleware(logger, rt)
}

func TestRouter(t *testing.T) {
	h := testStack(nil)
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		errcode string
		allow   string
	}{
		{"route matches", "GET", "/things/a", 200, "", ""},
		{"handler error is rendered", "DELETE", "/things/a", 403, "M_FORBIDDEN", ""},
		{"spec M_UNRECOGNIZED: unknown endpoint is 404", "GET", "/nothing/here", 404, "M_UNRECOGNIZED", ""},
		{"spec M_UNRECOGNIZED: wrong method is 405", "PUT", "/things/a", 405, "M_UNRECOGNIZED", "GET, DELETE, HEAD, OPTIONS"},
		{"spec M_UNRECOGNIZED: wrong method on a static path is 405", "GET", "/panic", 405, "M_UNRECOGNIZED", "POST, OPTIONS"},
		{"panic becomes 500 M_UNKNOWN", "POST", "/panic", 500, "M_UNKNOWN", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, rec.Code, rec.Body.String(), tc.status)
			}
			body := decodeBody(t, rec)
			if tc.errcode != "" && body["errcode"] != tc.errcode {
				t.Errorf("errcode = %v, want %s", body["errcode"], tc.errcode)
			}
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want * on every response", got)
			}
		})
	}
}

func TestRouterRejectsPatternWithoutMethod(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handle(\"/x\") did not panic")
		}
	}()
	NewRouter().Handle("/x", http.NotFoundHandler())
}

func TestRouterPatterns(t *testing.T) {
	rt := NewRouter()
	if got := rt.Patterns(); len(got) != 0 {
		t.Fatalf("Patterns() of a new router = %q, want none (the fallback is not a route)", got)
	}
	want := []string{"GET /things/{id}", "DELETE /things/{id}", "POST /things"}
	for _, p := range want {
		rt.Handle(p, http.NotFoundHandler())
	}
	got := rt.Patterns()
	if !slices.Equal(got, want) {
		t.Fatalf("Patterns() = %q, want %q in registration order", got, want)
	}
	got[0] = "changed"
	if rt.Patterns()[0] != want[0] {
		t.Error("Patterns() returned the router's own slice; changing it changed the router")
	}
}

func TestRouterHandler(t *testing.T) {
	rt := NewRouter()
	rt.Handle("GET /things/{id}", http.NotFoundHandler())
	tests := []struct {
		name    string
		method  string
		path    string
		pattern string
	}{
		{"route matches", "GET", "/things/a", "GET /things/{id}"},
		{"GET route matches HEAD", "HEAD", "/things/a", "GET /things/{id}"},
		{"wrong method gets the fallback", "PUT", "/things/a", ""},
		{"unknown path gets the fallback", "GET", "/nothing", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, pattern := rt.Handler(httptest.NewRequest(tc.method, tc.path, nil))
			if pattern != tc.pattern {
				t.Errorf("Handler(%s %s) pattern = %q, want %q", tc.method, tc.path, pattern, tc.pattern)
			}
			if h == nil {
				t.Errorf("Handler(%s %s) handler = nil, want a handler", tc.method, tc.path)
			}
		})
	}
}

// Spec "Web Browser Clients": OPTIONS is answered with the CORS headers and
// runs no endpoint logic.
func TestCORSPreflight(t *testing.T) {
	called := false
	rt := NewRouter()
	rt.Handle("POST /x", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		return nil
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("OPTIONS", "/x", nil)
	req.Header.Set("Origin", "https://app.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	Middleware(nil, rt).ServeHTTP(rec, req)
	if called {
		t.Error("OPTIONS ran the endpoint")
	}
	if rec.Code != http.StatusNoContent {
		t.Errorf("status = %d, want 204", rec.Code)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
		"Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestPanicIsLoggedWithStackAndRequestID(t *testing.T) {
	var logs bytes.Buffer
	h := testStack(slog.New(slog.NewJSONHandler(&logs, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/panic", nil))
	out := logs.String()
	if !strings.Contains(out, `"msg":"panic in handler"`) || !strings.Contains(out, "stack") || !strings.Contains(out, "request_id") {
		t.Errorf("log = %s, want the panic with stack and request_id", out)
	}
	if !strings.Contains(out, `"status":500`) {
		t.Errorf("access log = %s, want status 500", out)
	}
}

func TestAccessLogOmitsQuery(t *testing.T) {
	var logs bytes.Buffer
	h := testStack(slog.New(slog.NewJSONHandler(&logs, nil)))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/things/a?access_token=sekrit", nil))
	if strings.Contains(logs.String(), "sekrit") {
		t.Errorf("access log leaked the query string: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"path":"/things/a"`) {
		t.Errorf("access log = %s, want the path", logs.String())
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Flag  bool   `json:"flag"`
	}
	tests := []struct {
		name    string
		body    string
		errcode string // "" = success
	}{
		{"object", `{"name":"a","count":2,"flag":true,"extra":[1]}`, ""},
		{"empty object", `{}`, ""},
		{"empty body is not JSON", ``, "M_NOT_JSON"},
		{"whitespace body is not JSON", "  \n", "M_NOT_JSON"},
		{"syntax error", `{"name":`, "M_NOT_JSON"},
		{"trailing garbage", `{} x`, "M_NOT_JSON"},
		{"invalid UTF-8", "{\"name\":\"\xff\"}", "M_NOT_JSON"},
		{"array is not an object", `[1,2]`, "M_BAD_JSON"},
		{"string is not an object", `"x"`, "M_BAD_JSON"},
		{"null is not an object", `null`, "M_BAD_JSON"},
		{"wrong type: string for int", `{"count":"2"}`, "M_BAD_JSON"},
		{"wrong type: number for string", `{"name":5}`, "M_BAD_JSON"},
		{"wrong type: object for bool", `{"flag":{}}`, "M_BAD_JSON"},
		{"integer overflow", `{"count":1e400}`, "M_BAD_JSON"},
		// Numbers beyond a double's range are refused even where the
		// endpoint keeps the JSON as it is (account data, to-device).
		{"number overflow in an unknown key", `{"extra":{"a":[1.8e308]}}`, "M_BAD_JSON"},
		{"negative overflow", `{"extra":-1e400}`, "M_BAD_JSON"},
		{"overflow without exponent", `{"extra":1` + strings.Repeat("0", 400) + `}`, "M_BAD_JSON"},
		{"largest double", `{"extra":1.7976931348623157e308}`, ""},
		{"underflow reads as zero", `{"extra":1e-400}`, ""},
		{"large integer", `{"extra":-99999999999999999999}`, ""},
		{"numbers in strings and keys are text", `{"name":"1e400","1e400":"x"}`, ""},
		{"too large", `{"name":"` + strings.Repeat("a", MaxJSONBodyBytes) + `"}`, "M_TOO_LARGE"},
		// Nesting: as deep as canonical JSON allows, and one more.
		{"nested to the limit", `{"x":` + strings.Repeat("[", canonicaljson.MaxDepth-1) + strings.Repeat("]", canonicaljson.MaxDepth-1) + `}`, ""},
		{"nested too deep", `{"x":` + strings.Repeat("[", canonicaljson.MaxDepth) + strings.Repeat("]", canonicaljson.MaxDepth) + `}`, "M_BAD_JSON"},
		{"brackets in strings do not nest", `{"name":"` + strings.Repeat("[{", canonicaljson.MaxDepth) + `\\\""}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			var v req
			err := DecodeJSON(rec, r, &v)
			if tc.errcode == "" {
				if err != nil {
					t.Fatalf("DecodeJSON(%q) = %v, want nil", tc.body, err)
				}
				return
			}
			var me *matrixerr.Error
			if !errors.As(err, &me) || me.Code() != tc.errcode {
				t.Fatalf("DecodeJSON(%.40q) = %v, want %s", tc.body, err, tc.errcode)
			}
			if tc.errcode == "M_TOO_LARGE" && me.Status() != 413 {
				t.Errorf("status = %d, want 413", me.Status())
			}
		})
	}
}

func TestAccessTokenOf(t *testing.T) {
	tests := []struct {
		name   string
		header string
		query  string
		want   AccessToken
		err    bool
	}{
		{"bearer header", "Bearer abc", "", "abc", false},
		{"scheme is case-insensitive", "bearer abc", "", "abc", false},
		{"deprecated query parameter", "", "abc", "abc", false},
		{"both agree", "Bearer abc", "abc", "abc", false},
		{"both disagree", "Bearer abc", "def", "", true},
		{"other scheme", "Basic abc", "", "", true},
		{"empty bearer", "Bearer ", "", "", true},
		{"none", "", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "/x"
			if tc.query != "" {
				target += "?access_token=" + tc.query
			}
			r := httptest.NewRequest("GET", target, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, err := AccessTokenOf(r)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("AccessTokenOf = %q, %v; want %q, err=%v", string(got), err, string(tc.want), tc.err)
			}
			if err != nil && matrixerrCode(err) != "M_MISSING_TOKEN" {
				t.Errorf("error %v is not M_MISSING_TOKEN", err)
			}
		})
	}
	if _, err := AccessTokenOf(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, ErrNoAccessToken) {
		t.Errorf("no token: err = %v, want ErrNoAccessToken", err)
	}
}

func matrixerrCode(err error) string {
	var me *matrixerr.Error
	if errors.As(err, &me) {
		return me.Code()
	}
	return ""
}

func TestAccessTokenIsRedacted(t *testing.T) {
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", AccessToken("sekrit"))
	if strings.Contains(logs.String(), "sekrit") {
		t.Errorf("log leaked the token: %s", logs.String())
	}
	if s := AccessToken("sekrit").String(); strings.Contains(s, "sekrit") {
		t.Errorf("String() = %q leaks the token", s)
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateLimiter(map[string]Rate{"login": {PerSecond: 0.5, Burst: 2}})
	l.Now = func() time.Time { return now }

	for i := range 2 {
		if ok, _ := l.Allow("login", "1.2.3.4"); !ok {
			t.Fatalf("request %d within the burst was refused", i)
		}
	}
	ok, wait := l.Allow("login", "1.2.3.4")
	if ok || wait != 2*time.Second {
		t.Fatalf("third request = %v, %v; want refused with 2s wait", ok, wait)
	}
	if ok, _ := l.Allow("login", "5.6.7.8"); !ok {
		t.Error("another key shares the bucket")
	}
	if ok, _ := l.Allow("message", "1.2.3.4"); !ok {
		t.Error("an action without a rate was limited")
	}
	now = now.Add(2 * time.Second)
	if ok, _ := l.Allow("login", "1.2.3.4"); !ok {
		t.Error("request after the wait was refused")
	}

	err := l.Check("login", "1.2.3.4")
	var me *matrixerr.Error
	if !errors.As(err, &me) || me.Code() != "M_LIMIT_EXCEEDED" || me.RetryAfter <= 0 {
		t.Errorf("Check = %v, want M_LIMIT_EXCEEDED with RetryAfter", err)
	}

	var off *RateLimiter
	if err := off.Check("login", "x"); err != nil {
		t.Errorf("nil limiter: Check = %v, want nil", err)
	}
}

func TestRateLimiterForgetsRefilledBuckets(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateLimiter(map[string]Rate{"a": {PerSecond: 1, Burst: 1}})
	l.Now = func() time.Time { return now }
	for i := range minPruneAt {
		l.Allow("a", string(rune('A'+i%26))+strings.Repeat("x", i/26))
	}
	now = now.Add(time.Minute)
	l.Allow("a", "new")
	if n := len(l.buckets); n != 1 {
		t.Errorf("after refill and sweep, %d buckets remain, want 1", n)
	}
}

func TestNewServerLimits(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), nil)
	if s.ReadHeaderTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Errorf("NewServer = %+v, want ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes set", s)
	}
}

func TestLoadOrCreateCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := dir+"/tls.crt", dir+"/tls.key"
	c1, err := LoadOrCreateCertificate(cert, key, "hafen.test")
	if err != nil {
		t.Fatal(err)
	}
	if c1.Leaf == nil || c1.Leaf.DNSNames[0] != "hafen.test" {
		t.Fatalf("certificate = %+v, want one for hafen.test", c1.Leaf)
	}
	c2, err := LoadOrCreateCertificate(cert, key, "other.test")
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Leaf.Equal(c1.Leaf) {
		t.Error("an existing certificate was replaced")
	}
}

// TestRouterUncleanPaths: ServeMux would redirect these to the cleaned path
// with an HTML body; the API answers JSON, and "." and ".." segments reach
// the handler as the literal path parameters they are.
func TestRouterUncleanPaths(t *testing.T) {
	h := testStack(nil)
	tests := []struct {
		name, path string
		status     int
		wantID     string
	}{
		{"dot-dot segment is a literal parameter", "/things/..", 200, ".."},
		{"dot segment is a literal parameter", "/things/.", 200, "."},
		{"encoded dot-dot is a literal parameter", "/things/%2E%2E", 200, ".."},
		{"dot-dot in the middle matches no route", "/things/../things/a", 404, ""},
		{"dot-dot climbing out matches no route", "/nothing/../things/a", 404, ""},
		{"empty segment matches no route", "/things//a", 404, ""},
		{"leading empty segment matches no route", "//things/a", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, rec.Code, rec.Body.String(), tc.status)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("GET %s: Location %q, want no redirect", tc.path, loc)
			}
			body := decodeBody(t, rec)
			if tc.status == 404 && body["errcode"] != "M_UNRECOGNIZED" {
				t.Errorf("errcode = %v, want M_UNRECOGNIZED", body["errcode"])
			}
			if tc.wantID != "" && body["id"] != tc.wantID {
				t.Errorf("id = %v, want %q", body["id"], tc.wantID)
			}
		})
	}
}

// TestRouterRefusesBytesThatAreNoText: a path or query that decodes to
// invalid UTF-8 or holds a NUL is refused with 400 M_INVALID_PARAM before
// any handler runs (PostgreSQL cannot store such text); escaped Unicode
// text passes.
func TestRouterRefusesBytesThatAreNoText(t *testing.T) {
	h := testStack(nil)
	tests := []struct {
		name, target string
		status       int
	}{
		{"NUL in a path parameter", "/things/a%00b", 400},
		{"invalid UTF-8 in a path parameter", "/things/%FF%FE", 400},
		{"NUL in a query value", "/things/a?x=%00", 400},
		{"invalid UTF-8 in a query value", "/things/a?x=%C3", 400},
		{"invalid UTF-8 in a query key", "/things/a?%FF=1", 400},
		{"NUL on a path no route knows", "/nothing/%00", 400},
		{"escaped Unicode text passes", "/things/%C3%BC%F0%9F%98%80?x=%E2%82%AC", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("GET %s = %d %s, want %d", tc.target, rec.Code, rec.Body.String(), tc.status)
			}
			if body := decodeBody(t, rec); tc.status == 400 && body["errcode"] != "M_INVALID_PARAM" {
				t.Errorf("errcode = %v, want M_INVALID_PARAM", body["errcode"])
			}
		})
	}
}

// TestRequestLoggerAttributes checks that a request's logger carries its
// request_id, and user_id and device_id once the request is authenticated,
// also when it was first asked for before.
func TestRequestLoggerAttributes(t *testing.T) {
	var logs bytes.Buffer
	var first, again *slog.Logger
	h := Middleware(slog.New(slog.NewJSONHandler(&logs, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first = Logger(r)
		first.Info("before")
		SetUser(r, "@alice:hafen.test", "DEV")
		Logger(r).Info("after")
		again = Logger(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("log = %s, want before, after and the access log line", logs.String())
	}
	id := lines[2]["request_id"]
	if lines[0]["msg"] != "before" || lines[0]["request_id"] != id || lines[0]["user_id"] != nil {
		t.Errorf("before authentication: %v, want request_id %v and no user", lines[0], id)
	}
	if lines[1]["msg"] != "after" || lines[1]["request_id"] != id || lines[1]["user_id"] != "@alice:hafen.test" || lines[1]["device_id"] != "DEV" {
		t.Errorf("after authentication: %v, want request_id, user_id and device_id", lines[1])
	}
	if lines[2]["user_id"] != "@alice:hafen.test" {
		t.Errorf("access log line %v, want the user", lines[2])
	}
	if again == first {
		t.Error("the logger made before authentication is still the request's logger")
	}
}

// TestJSONAnswersHaveContentLength checks that JSON answers, small and
// large, go out with a Content-Length instead of in chunks.
func TestJSONAnswersHaveContentLength(t *testing.T) {
	large := []byte(`{"k":"` + strings.Repeat("x", 20000) + `"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/raw" {
			_ = OKRawJSON(w, large)
			return
		}
		_ = OK(w, map[string]string{"k": strings.Repeat("y", 10000)})
	}))
	defer srv.Close()
	for _, path := range []string{"/raw", "/ok"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
			t.Errorf("%s: Content-Length %d, Transfer-Encoding %v for a body of %d bytes", path, resp.ContentLength, resp.TransferEncoding, len(body))
		}
		if !json.Valid(body) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: not a JSON answer: %s", path, resp.Header.Get("Content-Type"))
		}
	}
}
