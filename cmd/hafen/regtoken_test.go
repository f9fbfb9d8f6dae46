package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRegistrationTokenCommands: with registration_require_token, the
// operator makes a token with `hafen registration-token create`, a new
// user registers with it (the spec's m.login.registration_token stage),
// its uses run out, and list and delete show and remove it.
func TestRegistrationTokenCommands(t *testing.T) {
	dataDir := t.TempDir()
	env := func(k string) (string, bool) {
		switch k {
		case "HAFEN_DATA_DIR":
			return dataDir, true
		case "HAFEN_SERVER_NAME":
			return "hafen.test", true
		}
		return "", false
	}
	ctx := t.Context()
	var out, errOut bytes.Buffer
	regtok := func(args ...string) (string, error) {
		out.Reset()
		err := run(ctx, append([]string{"registration-token"}, args...), env, nil, &out, &errOut)
		return strings.TrimSpace(out.String()), err
	}
	// The database exists once the server has started.
	base, _, _ := startServe(t, dataDir, "--registration-enabled", "--registration-require-token", "--rate-limit=false")
	tok, err := regtok("create", "--uses", "1", "--expires", "7d")
	if err != nil || tok == "" {
		t.Fatalf("create: %q, %v\n%s", tok, err, errOut.String())
	}
	if _, err := regtok("create", "--token", tok); err == nil {
		t.Error("a second token of the same name was created")
	}
	if _, err := regtok("create", "--token", "not valid!"); err == nil {
		t.Error("a token outside the spec's alphabet was created")
	}
	for _, zero := range []string{"0d", "0s"} {
		if _, err := regtok("create", "--expires", zero); err == nil {
			t.Errorf("--expires %s (a token that would never expire) was accepted", zero)
		}
	}
	if _, err := regtok("create", "--expires", "soon"); err == nil {
		t.Error("--expires soon was accepted")
	}

	register := func(name string) int {
		t.Helper()
		post := func(body map[string]any) (int, map[string]any) {
			raw, _ := json.Marshal(body)
			res, err := http.Post(base+"/_matrix/client/v3/register", "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(res.Body).Decode(&out)
			return res.StatusCode, out
		}
		body := map[string]any{"username": name, "password": "pw-" + name + "-12345"}
		status, challenge := post(body)
		if status != http.StatusUnauthorized {
			t.Fatalf("register %s without auth: %d %v", name, status, challenge)
		}
		body["auth"] = map[string]any{"type": "m.login.registration_token", "token": tok, "session": challenge["session"]}
		status, _ = post(body)
		return status
	}
	if status := register("first"); status != http.StatusOK {
		t.Fatalf("register with the token: %d", status)
	}
	if status := register("second"); status == http.StatusOK {
		t.Error("a token allowing one use registered a second user")
	}
	listed, err := regtok("list")
	if err != nil || !strings.Contains(listed, tok) || !strings.Contains(listed, "false") {
		t.Errorf("list = %q, %v; want the used-up token", listed, err)
	}
	if got, err := regtok("delete", tok); err != nil || !strings.Contains(got, tok) {
		t.Errorf("delete = %q, %v", got, err)
	}
	if _, err := regtok("delete", tok); err == nil {
		t.Error("deleting an unknown token succeeded")
	}
	if listed, _ := regtok("list"); listed != "no registration tokens" {
		t.Errorf("list after delete = %q", listed)
	}
}
