package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// serveArgsEnv carries the arguments of `hafen serve` to the test binary
// run as a child process (TestHelperServeProcess).
const serveArgsEnv = "HAFEN_TEST_CHILD_SERVE_ARGS"

// TestHelperServeProcess is not a test: run as a child process of the
// test binary with serveArgsEnv set, it is `hafen serve` with those
// arguments until it is killed.
func TestHelperServeProcess(t *testing.T) {
	raw := os.Getenv(serveArgsEnv)
	if raw == "" {
		t.Skip("runs only as the child process of a kill test")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	if err := serve(context.Background(), args, noEnv, os.Stderr, nil); err != nil {
		t.Fatal(err)
	}
}

// startChildServe runs `hafen serve` with args in a child process and
// waits until its client API answers. It retries a child that exits at
// once (the lock of a killed predecessor not yet released).
func startChildServe(t *testing.T, base string, args []string) *exec.Cmd {
	t.Helper()
	for attempt := 1; ; attempt++ {
		cmd, log, ok := tryChildServe(t, base, args)
		if ok {
			return cmd
		}
		if attempt == 10 {
			out, _ := os.ReadFile(log)
			t.Fatalf("child serve did not start:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tryChildServe starts one child serve; false if it exited or did not
// answer within a minute.
func tryChildServe(t *testing.T, base string, args []string) (*exec.Cmd, string, bool) {
	t.Helper()
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServeProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveArgsEnv+"="+string(enc))
	logf, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			return cmd, logf.Name(), true
		}
		select {
		case <-exited:
			return nil, logf.Name(), false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, logf.Name(), false
}

// TestKillNineCatchUpEndToEnd: server A runs as its own process. Its
// messages to a peer that is down wait in A's queue; A is killed with
// SIGKILL (no shutdown: the store is never closed), right after a last
// message was accepted; a new A on the same data starts, sends one more,
// and when the peer is back every message arrives exactly once, sent by
// A's sender as soon as the peer answers A's probe.
func TestKillNineCatchUpEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fedAddr, clientAddr := freeAddr(t), freeAddr(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{
				"--data-dir", dataDir, "--server-name", fedAddr,
				"--listen-client", clientAddr, "--listen-federation", fedAddr,
				"--open-registration", "--rate-limit=false",
				"--federation-allow-private", "--federation-skip-tls-verify",
			}, dbArgs(t)...)
			base := "http://" + clientAddr
			child := startChildServe(t, base, args)
			a := id.ServerName(fedAddr)
			raw, err := os.ReadFile(filepath.Join(dataDir, "signing.key"))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := signing.ParseKeyFile(raw, a)
			if err != nil {
				t.Fatal(err)
			}
			p := startRecordingPeer(t, keys[0])
			alice := register(t, base, "alice")
			roomID := createPublicRoom(t, base, alice.AccessToken)
			rq := url.PathEscape(string(roomID))
			bob := id.UserID("@bob:" + string(p.name))
			var m makeResp
			if st, code := p.fedGet(t, a, "GET", "/_matrix/federation/v1/make_join/"+rq+"/"+url.PathEscape(string(bob))+"?"+allVersions(), nil, &m); st != 200 {
				t.Fatalf("make_join = %d %s", st, code)
			}
			join := p.fromTemplate(t, m)
			if st, code := p.fedGet(t, a, "PUT", "/_matrix/federation/v2/send_join/"+rq+"/"+url.PathEscape(string(join.EventID())), join.JSON(), nil); st != 200 {
				t.Fatalf("send_join = %d %s", st, code)
			}
			send := func(base, body string) {
				t.Helper()
				csCall(t, base, alice.AccessToken, http.MethodPut, "/_matrix/client/v3/rooms/"+rq+"/send/m.room.message/"+url.PathEscape(body),
					map[string]any{"msgtype": "m.text", "body": body}, &struct{}{})
			}
			send(base, "while up")
			waitBodies(t, p, "while up")

			p.mu.Lock()
			p.down = true
			p.mu.Unlock()
			send(base, "while down 1")
			send(base, "while down 2")
			waitStatus(t, dataDir, args, func(f []string) bool { return f[0] == string(p.name) && f[1] == "2" && f[2] != "0" })
			send(base, "just before the kill")
			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			waitExit(t, child)

			startChildServe(t, base, args)
			// The token survived: the store was never closed, only killed.
			send(base, "after the restart")
			p.mu.Lock()
			p.down = false
			p.mu.Unlock()
			want := []string{"while up", "while down 1", "while down 2", "just before the kill", "after the restart"}
			waitBodies(t, p, want...)
			for body, n := range p.bodies() {
				if n != 1 {
					t.Errorf("%q arrived %d times, want once", body, n)
				}
			}
			p.mu.Lock()
			if len(p.bad) > 0 {
				t.Errorf("bad requests at the peer: %s", strings.Join(p.bad, "; "))
			}
			p.mu.Unlock()
		})
	}
}

// waitExit waits until a killed child process is gone.
func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for cmd.Process.Signal(syscall.Signal(0)) == nil {
		if time.Now().After(deadline) {
			t.Fatal("killed child still runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
