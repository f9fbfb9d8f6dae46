package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// The matrix-js-sdk tests run the Node scripts of tests/jsclient (the SDK
// inside Element Web, installed there with `npm ci`) against an in-process
// Hafen. A script reads its credentials from the environment, commands as
// JSON lines on stdin, and reports as JSON lines on stdout.

// jsClientDir returns the absolute path of tests/jsclient, skipping the
// test when Node.js or the installed packages are missing.
func jsClientDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found in PATH: the matrix-js-sdk tests need Node.js 20 and `npm ci` in tests/jsclient")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "tests", "jsclient"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "matrix-js-sdk")); err != nil {
		t.Skip("tests/jsclient/node_modules is missing: run `npm ci` in tests/jsclient to run the matrix-js-sdk tests")
	}
	return dir
}

// jsMsg is one line a script reported.
type jsMsg map[string]any

func (m jsMsg) str(key string) string {
	s, _ := m[key].(string)
	return s
}

// jsClient is a running Node script logged in as one user.
type jsClient struct {
	t      *testing.T
	stdin  io.WriteCloser
	lines  chan jsMsg
	stderr *syncBuffer
	logs   *syncBuffer   // the server's
	exited chan struct{} // closed when the script has exited
	// skipped holds the reports await passed over, for later awaits.
	skipped []jsMsg
}

// stop ends the script (it exits when its stdin closes) and waits for it;
// what it reports from then on is dropped.
func (c *jsClient) stop() {
	c.t.Helper()
	_ = c.stdin.Close()
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.exited:
	case <-time.After(jsWait):
		c.t.Fatal("node did not exit after its input closed")
	}
}

// jsWait bounds how long a test waits for a script's report before it
// fails instead of hanging; it is no assertion on speed.
const jsWait = 90 * time.Second

// startJS runs script (a file of tests/jsclient) as cli's user and device,
// with env ("NAME=value") added to its environment.
func startJS(t *testing.T, script, base string, cli *mautrix.Client, logs *syncBuffer, env ...string) *jsClient {
	t.Helper()
	dir := jsClientDir(t)
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HAFEN_BASE_URL="+base,
		"HAFEN_USER_ID="+string(cli.UserID),
		"HAFEN_ACCESS_TOKEN="+cli.AccessToken,
		"HAFEN_DEVICE_ID="+string(cli.DeviceID),
	)
	cmd.Env = append(cmd.Env, env...)
	c := &jsClient{t: t, lines: make(chan jsMsg, 64), stderr: &syncBuffer{}, logs: logs, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	go func() {
		// Wait only after the last line was read: it closes the pipe.
		defer func() { _ = cmd.Wait(); close(c.exited) }()
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var m jsMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = jsMsg{"event": "unparsable", "line": sc.Text()}
			}
			c.lines <- m
		}
	}()
	t.Cleanup(func() {
		_ = c.stdin.Close()
		go func() {
			for range c.lines {
			}
		}()
		select {
		case <-c.exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", script, c.stderr.String())
		} else if os.Getenv("HAFEN_JS_SHOW") != "" {
			// For debugging: HAFEN_JS_SHOW=1 HAFEN_JS_LOG_LEVEL=debug
			t.Logf("%s stderr:\n%s\nserver logs:\n%s", script, c.stderr.String(), c.logs.String())
		}
	})
	return c
}

// send writes one command to the script.
func (c *jsClient) send(cmd map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("write command to node: %v", err)
	}
}

// await returns the first report of kind event for which match (if not
// nil) holds, among those earlier awaits passed over and then the new
// ones; an "error" report or the script's exit fails the test.
func (c *jsClient) await(event string, match func(jsMsg) bool) jsMsg {
	c.t.Helper()
	for i, m := range c.skipped {
		if m.str("event") == event && (match == nil || match(m)) {
			c.skipped = append(c.skipped[:i], c.skipped[i+1:]...)
			return m
		}
	}
	timeout := time.After(jsWait)
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("node exited while waiting for %q; it reported %v\nserver logs:\n%s", event, c.skipped, c.logs.String())
			}
			if m.str("event") == "error" {
				c.t.Fatalf("node reported an error while waiting for %q: %s\nserver logs:\n%s", event, m.str("error"), c.logs.String())
			}
			if m.str("event") == event && (match == nil || match(m)) {
				return m
			}
			c.skipped = append(c.skipped, m)
		case <-timeout:
			c.t.Fatalf("no %q from node within %s; it reported %v\nserver logs:\n%s", event, jsWait, c.skipped, c.logs.String())
		}
	}
}

// TestJSClientReachesPrepared starts matrix-js-sdk's client (no crypto)
// for a user who is in a room and has an invite, and checks that its
// first sync reaches the PREPARED state with both rooms known.
func TestJSClientReachesPrepared(t *testing.T) {
	jsClientDir(t)
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := t.Context()
			alice, bob := register(t, base, "alice"), register(t, base, "bob")
			joined, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Harbour"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := alice.SendText(ctx, joined.RoomID, "welcome"); err != nil {
				t.Fatal(err)
			}
			invited, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Quay", Invite: []id.UserID{alice.UserID}})
			if err != nil {
				t.Fatal(err)
			}

			js := startJS(t, "prepared.mjs", base, alice, logs)
			js.await("sync", func(m jsMsg) bool { return m.str("state") == "PREPARED" })
			rooms := js.await("rooms", nil)
			got := map[string]string{}
			for _, r := range rooms["rooms"].([]any) {
				r := r.(map[string]any)
				got[r["room_id"].(string)], _ = r["name"].(string)
			}
			if got[string(joined.RoomID)] != "Harbour" || got[string(invited.RoomID)] != "Quay" {
				t.Errorf("js client knows rooms %v, want %s (Harbour) and %s (Quay)", got, joined.RoomID, invited.RoomID)
			}
		})
	}
}
