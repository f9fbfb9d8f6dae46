package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
)

// TestReportsCommand: users of a running server report an event, a room
// and a user; `hafen reports list` shows them newest first (and by kind),
// `show` prints one with the reported event, `delete` removes it; bad
// arguments are one clear error. On every backend.
func TestReportsCommand(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := dbArgs(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			base, _, _ := startServe(t, dataDir, append([]string{"--open-registration", "--rate-limit=false"}, db...)...)
			alice, bob := register(t, base, "alice"), register(t, base, "bob")
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "harbour"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatal(err)
			}
			sent, err := alice.SendText(ctx, created.RoomID, "something bad")
			if err != nil {
				t.Fatal(err)
			}
			if err := bob.ReportEvent(ctx, created.RoomID, sent.EventID, "this makes me sad"); err != nil {
				t.Fatal(err)
			}
			if _, err := bob.MakeFullRequest(ctx, mautrix.FullRequest{Method: "POST", URL: bob.BuildClientURL("v3", "rooms", created.RoomID, "report"),
				RequestJSON: map[string]any{"reason": "spam\nroom"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := bob.MakeFullRequest(ctx, mautrix.FullRequest{Method: "POST", URL: bob.BuildClientURL("v3", "users", alice.UserID, "report"),
				RequestJSON: map[string]any{"reason": "rude"}}); err != nil {
				t.Fatal(err)
			}

			cli := append([]string{"--data-dir", dataDir, "--server-name", "hafen.test"}, db...)
			hafen := func(args ...string) (string, error) {
				var out bytes.Buffer
				err := run(ctx, append(args, cli...), noEnv, nil, &out, io.Discard)
				return out.String(), err
			}
			out, err := hafen("reports", "list")
			if err != nil {
				t.Fatalf("reports list: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			wantRows := []string{
				`^3\s+\S+Z\s+user\s+@bob:hafen.test\s+user @alice:hafen.test\s+"rude"$`,
				`^2\s+\S+Z\s+room\s+@bob:hafen.test\s+room #harbour:hafen.test \(` + regexp.QuoteMeta(string(created.RoomID)) + `\)\s+"spam room"$`,
				`^1\s+\S+Z\s+event\s+@bob:hafen.test\s+event ` + regexp.QuoteMeta(string(sent.EventID)) + ` in #harbour:hafen.test \(\S+\) by @alice:hafen.test\s+"this makes me sad"$`,
			}
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
				t.Fatalf("reports list =\n%s", out)
			}
			for i, re := range wantRows {
				if !regexp.MustCompile(re).MatchString(lines[i+1]) {
					t.Errorf("row %d = %q, want %s", i+1, lines[i+1], re)
				}
			}
			if out, err := hafen("reports", "list", "--kind", "room"); err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "spam room") {
				t.Errorf("reports list --kind room = %q, %v", out, err)
			}
			out, err = hafen("reports", "show", "1")
			if err != nil || !strings.Contains(out, "reporter: @bob:hafen.test") || !strings.Contains(out, `"body":"something bad"`) {
				t.Errorf("reports show 1 = %q, %v", out, err)
			}
			if out, err := hafen("reports", "delete", "2"); err != nil || !strings.Contains(out, "deleted report 2") {
				t.Errorf("reports delete 2 = %q, %v", out, err)
			}
			if out, _ := hafen("reports", "list"); strings.Contains(out, "spam room") {
				t.Errorf("deleted report still listed:\n%s", out)
			}
			for _, args := range [][]string{
				{"reports", "show", "2"}, {"reports", "show", "x"}, {"reports", "show"},
				{"reports", "list", "--kind", "spam"}, {"reports", "list", "extra"}, {"reports", "nothing"},
			} {
				if _, err := hafen(args...); err == nil || strings.Count(err.Error(), "\n") > 1 {
					t.Errorf("hafen %v = %v, want one error line", args, err)
				}
			}
		})
	}
}
