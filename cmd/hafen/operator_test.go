package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/config"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

var noEnv = func(string) (string, bool) { return "", false }

// serveOnce runs serve with loopback listeners and returns its error,
// failing the test if it starts instead.
func serveOnce(t *testing.T, dataDir string, extra ...string) (error, string) {
	t.Helper()
	logs := &syncBuffer{}
	args := append([]string{"--data-dir", dataDir, "--server-name", "hafen.test",
		"--listen-client", "127.0.0.1:0", "--listen-federation", "127.0.0.1:0"}, extra...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := serve(ctx, args, noEnv, logs, func(started) {
		t.Errorf("serve started although it should have refused:\n%s", logs.String())
		cancel()
	})
	return err, logs.String()
}

func TestSecondServerIsRefused(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := dbArgs(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			startServe(t, dataDir, db...)
			err, _ := serveOnce(t, dataDir, db...)
			if err == nil || !strings.Contains(err.Error(), "in use by another hafen process") || strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("second serve on the same data directory = %v, want one line saying it is in use", err)
			}
			if name == "sqlite" {
				// Another data directory, one SQLite file outside both.
				dbFile := filepath.Join(t.TempDir(), "shared.db")
				startServe(t, filepath.Join(t.TempDir(), "a"), "--database", dbFile)
				err, _ := serveOnce(t, filepath.Join(t.TempDir(), "b"), "--database", dbFile)
				if err == nil || !strings.Contains(err.Error(), "database "+dbFile+" is in use by another hafen process") {
					t.Errorf("second serve on the same SQLite file = %v, want it refused", err)
				}
			}
			if name == "postgres" {
				// Another data directory, the same database.
				err, _ := serveOnce(t, filepath.Join(t.TempDir(), "other"), db...)
				if err == nil || !strings.Contains(err.Error(), "PostgreSQL schema") || !strings.Contains(err.Error(), "in use by another hafen process") {
					t.Errorf("second serve on the same PostgreSQL schema = %v, want it refused", err)
				}
			}
		})
	}
}

func TestServerIdentityIsChecked(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := dbArgs(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			_, stop, _ := startServe(t, dataDir, db...)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			err, _ := serveOnce(t, dataDir, append(db, "--server-name", "renamed.test")...)
			if err == nil || !strings.Contains(err.Error(), `belongs to "hafen.test"`) || !strings.Contains(err.Error(), "set server_name: hafen.test") {
				t.Errorf("serve with another server name = %v, want a refusal that says how to proceed", err)
			}
			// The user commands refuse it too.
			var out, errOut bytes.Buffer
			err = run(t.Context(), append([]string{"user", "list", "--data-dir", dataDir, "--server-name", "renamed.test"}, db...), noEnv, nil, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), `belongs to "hafen.test"`) {
				t.Errorf("user list with another server name = %v", err)
			}
			// A lost or replaced signing key is noticed.
			keyPath := filepath.Join(dataDir, "signing.key")
			if err := os.Rename(keyPath, keyPath+".bak"); err != nil {
				t.Fatal(err)
			}
			err, _ = serveOnce(t, dataDir, db...)
			if err == nil || !strings.Contains(err.Error(), "is missing") || !strings.Contains(err.Error(), "restore") {
				t.Errorf("serve without the signing key = %v, want a refusal", err)
			}
			if _, statErr := os.Stat(keyPath); statErr == nil {
				t.Error("serve created a new signing key for an existing database")
			}
			if err := os.Rename(keyPath+".bak", keyPath); err != nil {
				t.Fatal(err)
			}
			startServe(t, dataDir, db...)
		})
	}
}

func TestWarnLocalhost(t *testing.T) {
	lo := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8008}
	all := &net.TCPAddr{IP: net.IPv6unspecified, Port: 8448}
	for _, tc := range []struct {
		name   string
		server string
		addrs  []net.Addr
		warn   bool
	}{
		{"localhost on loopback only", "localhost", []net.Addr{lo, lo}, false},
		{"localhost reachable from other machines", "localhost", []net.Addr{lo, all}, true},
		{"localhost with port, reachable", "localhost:8448", []net.Addr{all, lo}, true},
		{"a real name reachable", "example.org", []net.Addr{lo, all}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger, _ := newLogger(configLog(), &logs)
			cfg := configWith(tc.server)
			warnLocalhost(logger, cfg, tc.addrs...)
			if got := strings.Contains(logs.String(), "level=WARN"); got != tc.warn {
				t.Errorf("warned = %v, want %v: %s", got, tc.warn, logs.String())
			}
		})
	}
}

func TestShutdownAnswersLongPolls(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs(t)...)
			_, stop, logs, st := startServeInfo(t, filepath.Join(t.TempDir(), "data"), args...)
			base := "http://" + st.client.String()
			cli := register(t, base, "alice")
			ctx := context.Background()
			first, err := cli.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				resp *mautrix.RespSync
				err  error
			}
			got := make(chan result, 1)
			go func() {
				resp, err := cli.SyncRequest(ctx, 120000, first.NextBatch, "", false, event.PresenceOnline)
				got <- result{resp, err}
			}()
			for st.syncWaiting() == 0 {
				select {
				case r := <-got:
					t.Fatalf("the long-poll returned before shutdown: %+v", r)
				case <-time.After(time.Millisecond):
				}
			}
			if err := stop(); err != nil {
				t.Errorf("serve returned %v after SIGTERM, want nil (exit 0)\n%s", err, logs)
			}
			r := <-got
			if r.err != nil || r.resp == nil || r.resp.NextBatch == "" {
				t.Fatalf("the long-poll got %+v, %v; want an answer with next_batch", r.resp, r.err)
			}
			if !strings.Contains(logs.String(), "hafen stopped") {
				t.Errorf("log lacks \"hafen stopped\":\n%s", logs)
			}
		})
	}
}

func TestFailedStartLeavesNothingBehind(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// A port that refuses connections: bound, then closed.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"client port taken", []string{"--listen-client", busy.Addr().String()}, "listen_client"},
		{"federation port taken", []string{"--listen-federation", busy.Addr().String()}, "listen_federation"},
		{"PostgreSQL unreachable", []string{"--database", "postgres://hafen@" + refusing + "/hafen?sslmode=disable&connect_timeout=5"}, "database"},
		{"explicit config missing", []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			err, _ := serveOnce(t, dataDir, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve = %v, want an error about %s", err, tc.want)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed first start left %s behind (%v)", dataDir, err)
			}
		})
	}
}

func TestUnknownFlagIsOneErrorAndOneHint(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"serve", "--open-registraton"}, noEnv, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "did you mean --open-registration?") || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("unknown flag = %q, want the error and one hint", err)
	}
	if out.Len()+errOut.Len() != 0 {
		t.Errorf("unknown flag printed usage:\n%s%s", out.String(), errOut.String())
	}
}

func TestSubcommandHelp(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"user", "--help"}, []string{"hafen user create", "hafen user list"}, []string{"rate-limit"}},
		{[]string{"user", "list", "--help"}, []string{"-data-dir", "-database", "-config"}, []string{"rate-limit", "-admin", "-password"}},
		{[]string{"user", "create", "--help"}, []string{"-admin", "-password", "-data-dir"}, []string{"rate-limit", "listen"}},
		{[]string{"version", "--help"}, []string{"usage: hafen version"}, []string{"-data-dir", "rate-limit"}},
		{[]string{"reports", "--help"}, []string{"hafen reports list", "hafen reports show"}, []string{"rate-limit"}},
		{[]string{"reports", "list", "--help"}, []string{"-kind", "-limit", "-data-dir"}, []string{"rate-limit", "listen"}},
		{[]string{"reports", "show", "--help"}, []string{"-data-dir", "-database"}, []string{"rate-limit", "-limit int"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, noEnv, nil, &out, &errOut)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run = %v\n%s", err, errOut.String())
			}
			all := out.String() + errOut.String()
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("help lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(all, w) {
					t.Errorf("help shows %q, which is not this command's:\n%s", w, all)
				}
			}
		})
	}
}

func TestUserCommandBeforeFirstServe(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"user", "list", "--data-dir", dataDir}, noEnv, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `run "hafen serve" once`) || strings.Contains(err.Error(), "(14)") {
		t.Errorf("user list before the first serve = %v, want an explanation", err)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("user list created %s", dataDir)
	}
	// A second name is refused, not ignored.
	err = run(t.Context(), []string{"user", "create", "alice", "--data-dir", dataDir, "bob"}, noEnv, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "unexpected arguments: bob") {
		t.Errorf("user create with two names = %v, want the extra one refused", err)
	}
}

func TestFirstStartTellsWhatToDoNext(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	_, stop, logs := startServe(t, dataDir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Clients connect to http://127.0.0.1:",
		"hafen user create NAME --admin --data-dir " + dataDir,
		"registration.enabled: true",
		"--open-registration",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("first start does not say %q:\n%s", want, logs)
		}
	}
	_, _, logs = startServe(t, dataDir)
	if strings.Contains(logs.String(), "first time") {
		t.Errorf("a second start repeats the first-start note:\n%s", logs)
	}
}

func TestDefaultRoomVersion(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--open-registration", "--rate-limit=false", "--default-room-version", "10"}, dbArgs(t)...)
			base, _, _ := startServe(t, filepath.Join(t.TempDir(), "data"), args...)
			cli := register(t, base, "alice")
			ctx := context.Background()
			caps := getJSON(t, cli, base+"/_matrix/client/v3/capabilities")
			var c struct {
				Capabilities struct {
					RoomVersions struct {
						Default string `json:"default"`
					} `json:"m.room_versions"`
				} `json:"capabilities"`
			}
			if err := json.Unmarshal(caps, &c); err != nil || c.Capabilities.RoomVersions.Default != "10" {
				t.Errorf("capabilities default room version = %q (%v), want 10", c.Capabilities.RoomVersions.Default, err)
			}
			created, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
			if err != nil {
				t.Fatal(err)
			}
			state, err := cli.State(ctx, created.RoomID)
			if err != nil {
				t.Fatal(err)
			}
			create := state[event.StateCreate][""]
			if v, _ := create.Content.Raw["room_version"].(string); v != "10" {
				t.Errorf("room created without a version has room_version %q, want 10", v)
			}
		})
	}
	err, _ := serveOnce(t, filepath.Join(t.TempDir(), "data"), "--default-room-version", "99")
	if err == nil || !strings.Contains(err.Error(), "default_room_version") {
		t.Errorf("unsupported default room version = %v", err)
	}
}

func getJSON(t *testing.T, cli *mautrix.Client, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// loginVia posts a password login as if forwarded by a proxy for client
// and returns the status.
func loginVia(t *testing.T, base, client, user, password string) int {
	t.Helper()
	body := fmt.Sprintf(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":%q},"password":%q}`, user, password)
	req, _ := http.NewRequest("POST", base+"/_matrix/client/v3/login", strings.NewReader(body))
	req.Header.Set("X-Forwarded-For", client)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRateLimitsBehindTrustedProxy(t *testing.T) {
	base, _, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "--open-registration", "--trusted-proxies", "127.0.0.1",
		"--rate-limit-login-burst", "3", "--rate-limit-login-per-second", "0.001",
		"--rate-limit-failed-login-burst", "3", "--rate-limit-failed-login-per-second", "0.001")
	register(t, base, "alice")
	register(t, base, "bob")

	// Each client behind the proxy has its own login bucket.
	for i := range 3 {
		if got := loginVia(t, base, "203.0.113.1", "bob", "correct horse bob"); got != 200 {
			t.Fatalf("login %d from client A = %d", i, got)
		}
	}
	if got := loginVia(t, base, "203.0.113.1", "bob", "correct horse bob"); got != 429 {
		t.Errorf("4th login from client A = %d, want 429", got)
	}
	if got := loginVia(t, base, "203.0.113.2", "bob", "correct horse bob"); got != 200 {
		t.Errorf("login from client B after A was limited = %d, want 200 (its own bucket)", got)
	}

	// Failed logins are limited per account, from whatever address.
	for i := range 3 {
		if got := loginVia(t, base, fmt.Sprintf("198.51.100.%d", i+1), "alice", "wrong"); got != 403 {
			t.Fatalf("failed login %d = %d, want 403", i, got)
		}
	}
	if got := loginVia(t, base, "198.51.100.9", "alice", "correct horse alice"); got != 429 {
		t.Errorf("login to an account after 3 failures = %d, want 429", got)
	}
	if got := loginVia(t, base, "198.51.100.9", "bob", "correct horse bob"); got != 200 {
		t.Errorf("login to another account from the same address = %d, want 200", got)
	}
}

func configLog() config.Log { return config.Defaults().Log }

func configWith(serverName string) config.Config {
	c := config.Defaults()
	c.ServerName = serverName
	return c
}

// TestSubcommandChoice checks every command group's answer to a missing,
// an unknown and a help subcommand: usage on stderr and an error, or
// usage on stdout and flag.ErrHelp.
func TestSubcommandChoice(t *testing.T) {
	for _, group := range []string{"user", "key", "media", "reports", "federation"} {
		t.Run(group, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{group}, noEnv, nil, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), "missing "+group+" command") || errOut.Len() == 0 || out.Len() != 0 {
				t.Errorf("no subcommand: err = %v, stdout %d bytes, stderr %d bytes", err, out.Len(), errOut.Len())
			}
			out.Reset()
			errOut.Reset()
			err = run(t.Context(), []string{group, "bogus"}, noEnv, nil, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), `unknown `+group+` command "bogus"`) || errOut.Len() == 0 || out.Len() != 0 {
				t.Errorf("unknown subcommand: err = %v, stdout %d bytes, stderr %d bytes", err, out.Len(), errOut.Len())
			}
			out.Reset()
			errOut.Reset()
			err = run(t.Context(), []string{group, "help"}, noEnv, nil, &out, &errOut)
			if !errors.Is(err, flag.ErrHelp) || out.Len() == 0 || errOut.Len() != 0 {
				t.Errorf("help: err = %v, stdout %d bytes, stderr %d bytes", err, out.Len(), errOut.Len())
			}
		})
	}
}

func TestSyncRingBytes(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		want  int
	}{
		{0, 0},                // no limit: sync's default
		{24 << 20, 3 << 19},   // the default limit: 1.5 MiB
		{16 << 20, 1 << 20},   // the smallest limit accepted
		{256 << 20, 16 << 20}, // a larger server
		{4 << 30, 64 << 20},   // capped
	} {
		if got := syncRingBytes(tc.limit); got != tc.want {
			t.Errorf("syncRingBytes(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}
