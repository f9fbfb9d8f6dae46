package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// registerRequest is what a client sends to POST /register.
type registerRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     *struct {
		Type    string `json:"type"`
		Session string `json:"session"`
	} `json:"auth"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var dummyFlows = map[string]any{"flows": []any{map[string]any{"stages": []string{"m.login.dummy"}}}, "params": map[string]any{}, "session": "sess-1"}

func TestRegisterOpen(t *testing.T) {
	success := map[string]any{"user_id": "@u:localhost", "access_token": "tok", "device_id": "DEV"}
	tests := []struct {
		name string
		// answer returns the status and body for the n-th request (from 0).
		answer       func(n int, req registerRequest) (int, any)
		wantErr      bool
		wantErrIs    error
		wantRequests int
	}{
		{
			name: "spec UIA: 401 with m.login.dummy flow, then dummy auth with the session",
			answer: func(n int, req registerRequest) (int, any) {
				if req.Auth == nil {
					return 401, dummyFlows
				}
				if req.Auth.Type != "m.login.dummy" || req.Auth.Session != "sess-1" {
					return 400, map[string]any{"errcode": "M_BAD_JSON", "error": "bad auth"}
				}
				if req.Username != "alice" || req.Password != "secret-pw" {
					return 400, map[string]any{"errcode": "M_BAD_JSON", "error": "lost the username"}
				}
				return 200, success
			},
			wantRequests: 2,
		},
		{
			name:         "server registers without UIA",
			answer:       func(int, registerRequest) (int, any) { return 200, success },
			wantRequests: 1,
		},
		{
			name: "dummy flow among others is chosen",
			answer: func(n int, req registerRequest) (int, any) {
				if req.Auth == nil {
					return 401, map[string]any{"session": "sess-1", "flows": []any{
						map[string]any{"stages": []string{"m.login.recaptcha", "m.login.dummy"}},
						map[string]any{"stages": []string{"m.login.dummy"}},
					}}
				}
				return 200, success
			},
			wantRequests: 2,
		},
		{
			name: "no flow of m.login.dummy alone",
			answer: func(int, registerRequest) (int, any) {
				return 401, map[string]any{"session": "s", "flows": []any{map[string]any{"stages": []string{"m.login.recaptcha"}}}}
			},
			wantErr:      true,
			wantErrIs:    errNoDummyFlow,
			wantRequests: 1,
		},
		{
			name: "registration disabled",
			answer: func(int, registerRequest) (int, any) {
				return 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "registration is disabled"}
			},
			wantErr:      true,
			wantRequests: 1,
		},
		{
			name: "server keeps asking: bounded rounds",
			answer: func(n int, req registerRequest) (int, any) {
				if req.Auth == nil {
					return 401, dummyFlows
				}
				return 401, map[string]any{"session": "sess-1", "completed": []string{}, "flows": dummyFlows["flows"]}
			},
			wantErr:      true,
			wantRequests: maxUIARounds,
		},
		{
			name: "dummy completed but more asked",
			answer: func(n int, req registerRequest) (int, any) {
				if req.Auth == nil {
					return 401, dummyFlows
				}
				return 401, map[string]any{"session": "sess-1", "completed": []string{"m.login.dummy"}, "flows": dummyFlows["flows"]}
			},
			wantErr:      true,
			wantRequests: 2,
		},
		{
			name: "401 without flows",
			answer: func(int, registerRequest) (int, any) {
				return 401, map[string]any{"errcode": "M_UNKNOWN_TOKEN", "error": "who"}
			},
			wantErr:      true,
			wantRequests: 1,
		},
		{
			name: "rate limited, then spec UIA",
			answer: func(n int, req registerRequest) (int, any) {
				if n == 0 {
					return 429, map[string]any{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 10}
				}
				if req.Auth == nil {
					return 401, dummyFlows
				}
				return 200, success
			},
			wantRequests: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/_matrix/client/v3/register" {
					writeJSON(w, 404, map[string]any{"errcode": "M_UNRECOGNIZED"})
					return
				}
				var req registerRequest
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
					writeJSON(w, 400, map[string]any{"errcode": "M_NOT_JSON"})
					return
				}
				status, body := tc.answer(int(n.Add(1)-1), req)
				writeJSON(w, status, body)
			}))
			defer srv.Close()

			c := &client{hc: srv.Client(), baseURL: srv.URL, retries: new(atomic.Int64)}
			err := registerOpen(context.Background(), c, "alice", "secret-pw")
			if tc.wantErr {
				if err == nil {
					t.Fatalf("registerOpen = nil, want an error")
				}
				if tc.wantErrIs != nil && !errors.Is(err, tc.wantErrIs) {
					t.Errorf("registerOpen = %v, want %v", err, tc.wantErrIs)
				}
			} else {
				if err != nil {
					t.Fatalf("registerOpen = %v, want nil", err)
				}
				if c.token != "tok" || c.userID != "@u:localhost" {
					t.Errorf("client session = %q %q, want tok @u:localhost", c.token, c.userID)
				}
			}
			if got := int(n.Load()); got != tc.wantRequests {
				t.Errorf("requests = %d, want %d", got, tc.wantRequests)
			}
		})
	}
}

func TestRegisterSharedSecret(t *testing.T) {
	const secret = "s3cret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_synapse/admin/v1/register" {
			writeJSON(w, 404, map[string]any{"errcode": "M_UNRECOGNIZED"})
			return
		}
		if r.Method == http.MethodGet {
			writeJSON(w, 200, map[string]any{"nonce": "n0nce"})
			return
		}
		var req struct {
			Nonce, Username, Password, MAC string
			Admin                          bool
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]any{"errcode": "M_NOT_JSON"})
			return
		}
		// The MAC as Synapse documents it, computed here independently.
		m := hmac.New(sha1.New, []byte(secret))
		m.Write(bytes.Join([][]byte{[]byte(req.Nonce), []byte(req.Username), []byte(req.Password), []byte("notadmin")}, []byte{0}))
		if req.Nonce != "n0nce" || req.Admin || !hmac.Equal([]byte(req.MAC), []byte(hex.EncodeToString(m.Sum(nil)))) {
			writeJSON(w, 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "HMAC incorrect"})
			return
		}
		writeJSON(w, 200, map[string]any{"user_id": "@" + req.Username + ":localhost", "access_token": "tok-" + req.Username})
	}))
	defer srv.Close()

	c := &client{hc: srv.Client(), baseURL: srv.URL}
	if err := registerSharedSecret(context.Background(), c, secret, "bob", "pw"); err != nil {
		t.Fatalf("registerSharedSecret = %v, want nil", err)
	}
	if c.token != "tok-bob" || c.userID != "@bob:localhost" {
		t.Errorf("client session = %q %q, want tok-bob @bob:localhost", c.token, c.userID)
	}

	c = &client{hc: srv.Client(), baseURL: srv.URL}
	err := registerSharedSecret(context.Background(), c, "wrong", "bob", "pw")
	var me *matrixError
	if !errors.As(err, &me) || me.Status != 403 {
		t.Errorf("registerSharedSecret with a wrong secret = %v, want a 403 matrixError", err)
	}
}
