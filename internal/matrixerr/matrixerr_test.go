package matrixerr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTableIsComplete(t *testing.T) {
	codeRe := regexp.MustCompile(`^M_[A-Z_]+$`)
	for k := Kind(0); k < numKinds; k++ {
		e := table[k]
		if !codeRe.MatchString(e.code) {
			t.Errorf("Kind(%d).Code() = %q, want an M_ errcode", k, e.code)
		}
		if e.status < 400 || e.status > 599 {
			t.Errorf("Kind(%d).Status() = %d, want a 4xx or 5xx status", k, e.status)
		}
	}
	if got := Kind(-1).Code(); got != "M_UNKNOWN" {
		t.Errorf("Kind(-1).Code() = %q, want M_UNKNOWN", got)
	}
	if got := Kind(numKinds).Status(); got != 500 {
		t.Errorf("Kind(numKinds).Status() = %d, want 500", got)
	}
}

// The statuses the spec states explicitly.
func TestSpecStatuses(t *testing.T) {
	tests := []struct {
		name   string
		err    *Error
		status int
		code   string
	}{
		{"standard error response: M_FORBIDDEN", Forbidden("x"), 403, "M_FORBIDDEN"},
		{"using access tokens: missing token is 401", MissingToken("x"), 401, "M_MISSING_TOKEN"},
		{"using access tokens: unknown token is 401", UnknownToken("x", false), 401, "M_UNKNOWN_TOKEN"},
		{"rate limiting: 429", LimitExceeded(time.Second), 429, "M_LIMIT_EXCEEDED"},
		{"M_UNRECOGNIZED: 404 when not implemented", Unrecognized("x"), 404, "M_UNRECOGNIZED"},
		{"M_UNRECOGNIZED: 405 for the wrong method", MethodNotAllowed("x"), 405, "M_UNRECOGNIZED"},
		{"register 400: M_USER_IN_USE", UserInUse("x"), 400, "M_USER_IN_USE"},
		{"register 400: M_INVALID_USERNAME", InvalidUsername("x"), 400, "M_INVALID_USERNAME"},
		{"login 403: M_USER_DEACTIVATED", UserDeactivated("x"), 403, "M_USER_DEACTIVATED"},
		{"account locking: 401 M_USER_LOCKED", UserLocked("x"), 401, "M_USER_LOCKED"},
		{"account suspension: 403 M_USER_SUSPENDED", UserSuspended("x"), 403, "M_USER_SUSPENDED"},
		{"M_TOO_LARGE is 413", TooLarge("x"), 413, "M_TOO_LARGE"},
		{"login 400: bad login type is M_UNKNOWN", Unknown("x"), 400, "M_UNKNOWN"},
		{"M_NOT_JSON", NotJSON("x"), 400, "M_NOT_JSON"},
		{"M_BAD_JSON", BadJSON("x"), 400, "M_BAD_JSON"},
		{"M_GUEST_ACCESS_FORBIDDEN", GuestAccessForbidden("x"), 403, "M_GUEST_ACCESS_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Status() != tc.status || tc.err.Code() != tc.code {
				t.Errorf("got %d %s, want %d %s", tc.err.Status(), tc.err.Code(), tc.status, tc.code)
			}
		})
	}
}

func write(t *testing.T, logger *slog.Logger, err error) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	Write(rec, req, logger, err)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return rec, body
}

func TestWriteStandardError(t *testing.T) {
	rec, body := write(t, nil, fmt.Errorf("wrapped: %w", Forbidden("no entry")))
	if rec.Code != 403 || body["errcode"] != "M_FORBIDDEN" || body["error"] != "no entry" {
		t.Errorf("Write(Forbidden) = %d %v, want 403 M_FORBIDDEN", rec.Code, body)
	}
}

func TestWriteLimitExceeded(t *testing.T) {
	rec, body := write(t, nil, LimitExceeded(1500*time.Millisecond))
	if rec.Code != 429 || body["errcode"] != "M_LIMIT_EXCEEDED" {
		t.Fatalf("Write(LimitExceeded) = %d %v", rec.Code, body)
	}
	if body["retry_after_ms"] != float64(1500) {
		t.Errorf("retry_after_ms = %v, want 1500", body["retry_after_ms"])
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
}

func TestWriteSoftLogoutAndFields(t *testing.T) {
	_, body := write(t, nil, UnknownToken("expired", true))
	if body["soft_logout"] != true {
		t.Errorf("soft_logout = %v, want true", body["soft_logout"])
	}
	_, body = write(t, nil, UnknownToken("gone", false))
	if _, ok := body["soft_logout"]; ok {
		t.Errorf("soft_logout present for a hard logout: %v", body)
	}
	_, body = write(t, nil, ResourceLimitExceeded("full", "mailto:admin@example.org"))
	if body["admin_contact"] != "mailto:admin@example.org" {
		t.Errorf("admin_contact = %v", body["admin_contact"])
	}
	// Fields cannot override errcode or error.
	e := Forbidden("real")
	e.Fields = map[string]any{"errcode": "M_FAKE", "error": "fake"}
	_, body = write(t, nil, e)
	if body["errcode"] != "M_FORBIDDEN" || body["error"] != "real" {
		t.Errorf("Fields overrode errcode/error: %v", body)
	}
}

func TestWriteUnknownErrorIsLoggedNotSent(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil)).With("request_id", "req-1")
	rec, body := write(t, logger, errors.New("database is on fire"))
	if rec.Code != 500 || body["errcode"] != "M_UNKNOWN" {
		t.Fatalf("Write(unknown) = %d %v, want 500 M_UNKNOWN", rec.Code, body)
	}
	if strings.Contains(rec.Body.String(), "fire") {
		t.Errorf("the cause reached the client: %s", rec.Body.String())
	}
	if !strings.Contains(logs.String(), "database is on fire") || !strings.Contains(logs.String(), `"request_id":"req-1"`) {
		t.Errorf("log = %s, want the cause and request_id", logs.String())
	}

	logs.Reset()
	rec, _ = write(t, logger, Internal(errors.New("disk full"), "store event"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk") {
		t.Errorf("Write(Internal) = %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "disk full") {
		t.Errorf("log = %s, want the cause", logs.String())
	}
}

func TestWriteCanceledRequestIsNotAnError(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	Write(httptest.NewRecorder(), req, logger, fmt.Errorf("query: %w", context.Canceled))
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("canceled request logged as an error: %s", logs.String())
	}
}

func TestWriteMaxBytes(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 100)))
	body := http.MaxBytesReader(rec, req.Body, 10)
	_, err := io.ReadAll(body)
	Write(rec, req, nil, fmt.Errorf("read body: %w", err))
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), "M_TOO_LARGE") {
		t.Errorf("Write(MaxBytesError) = %d %s, want 413 M_TOO_LARGE", rec.Code, rec.Body.String())
	}
}

func TestWriteUIA(t *testing.T) {
	u := &UIA{
		Flows:   []Flow{{Stages: []string{"m.login.password"}}},
		Session: "abc",
	}
	rec, body := write(t, nil, u)
	if rec.Code != 401 {
		t.Fatalf("status = %d, want 401", rec.Code)
	}
	if _, ok := body["errcode"]; ok {
		t.Errorf("first challenge carries an errcode: %v", body)
	}
	if body["session"] != "abc" || body["params"] == nil || body["flows"] == nil {
		t.Errorf("body = %v, want flows, params and session", body)
	}
	u.Completed = []string{"m.login.dummy"}
	u.Err = Forbidden("invalid password")
	_, body = write(t, nil, u)
	if body["errcode"] != "M_FORBIDDEN" || body["error"] != "invalid password" {
		t.Errorf("failed stage body = %v, want errcode and error", body)
	}
	if c, _ := body["completed"].([]any); len(c) != 1 || c[0] != "m.login.dummy" {
		t.Errorf("completed = %v", body["completed"])
	}
}
