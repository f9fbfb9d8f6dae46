package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
)

// TestWellknownSupportEndToEnd checks that the support settings reach
// /.well-known/matrix/support of a running server in the spec's shape,
// and that a server without them answers 404 M_NOT_FOUND (no support
// information).
func TestWellknownSupportEndToEnd(t *testing.T) {
	get := func(base string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(base + "/.well-known/matrix/support")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("support answer %q is no JSON object: %v", raw, err)
		}
		return resp.StatusCode, body
	}

	base, _, _ := startServe(t, filepath.Join(t.TempDir(), "data"))
	if code, body := get(base); code != http.StatusNotFound || body["errcode"] != "M_NOT_FOUND" {
		t.Errorf("support without settings = %d %v, want 404 M_NOT_FOUND", code, body)
	}

	base, _, _ = startServe(t, filepath.Join(t.TempDir(), "data"),
		"--support-page", "https://hafen.test/help",
		"--support-admin-contacts", "@admin:elsewhere.test,admin@hafen.test",
		"--support-security-contacts", "security@hafen.test")
	code, body := get(base)
	want := map[string]any{
		"contacts": []any{
			map[string]any{"matrix_id": "@admin:elsewhere.test", "role": "m.role.admin"},
			map[string]any{"email_address": "admin@hafen.test", "role": "m.role.admin"},
			map[string]any{"email_address": "security@hafen.test", "role": "m.role.security"},
		},
		"support_page": "https://hafen.test/help",
	}
	if code != http.StatusOK || !reflect.DeepEqual(body, want) {
		t.Errorf("support = %d %v, want 200 %v", code, body, want)
	}
}
