package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// syncBuffer is a log sink shared by the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `hafen serve` in-process on loopback and returns the
// client API base URL and a function that stops it and returns its error.
func startServe(t testing.TB, dataDir string, extra ...string) (string, func() error, *syncBuffer) {
	t.Helper()
	base, stop, logs, _ := startServeInfo(t, dataDir, extra...)
	return base, stop, logs
}

// startOpenServe runs `hafen serve` with open registration and no rate
// limits on a fresh data directory, dbArgs choosing the database, and
// returns its client API's base URL and its logs.
func startOpenServe(t testing.TB, dbArgs []string) (string, *syncBuffer) {
	t.Helper()
	args := append([]string{"--open-registration", "--rate-limit=false"}, dbArgs...)
	base, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), args...)
	return base, logs
}

// startServeInfo is startServe that also returns what serve reported on
// start.
func startServeInfo(t testing.TB, dataDir string, extra ...string) (string, func() error, *syncBuffer, started) {
	t.Helper()
	return startServeHooks(t, dataDir, serveHooks{}, extra...)
}

// startServeHooks is startServeInfo with hooks put into the server.
func startServeHooks(t testing.TB, dataDir string, hooks serveHooks, extra ...string) (string, func() error, *syncBuffer, started) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	addrc := make(chan started, 1)
	errc := make(chan error, 1)
	args := append([]string{
		"--data-dir", dataDir,
		"--server-name", "hafen.test",
		"--listen-client", "127.0.0.1:0",
		"--listen-federation", "127.0.0.1:0",
	}, extra...)
	go func() {
		errc <- serve(ctx, args, func(string) (string, bool) { return "", false }, logs,
			func(s started) { addrc <- s }, hooks)
	}()
	select {
	case st := <-addrc:
		// stop may be called twice (by the test and by the cleanup); the
		// second call returns the first one's result.
		stop := sync.OnceValue(func() error {
			cancel()
			select {
			case err := <-errc:
				return err
			case <-time.After(15 * time.Second):
				return errors.New("serve did not stop")
			}
		})
		t.Cleanup(func() { _ = stop() })
		return "http://" + st.client.String(), stop, logs, st
	case err := <-errc:
		cancel()
		t.Fatalf("serve failed to start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", logs.String())
	}
	return "", nil, nil, started{}
}

func TestServeWithMautrix(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	base, stop, logs := startServe(t, dataDir, "--registration")
	ctx := t.Context()

	cli, err := mautrix.NewClient(base, "", "")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := cli.Versions(ctx)
	if err != nil {
		t.Fatalf("Versions: %v", err)
	}
	if !versions.ContainsGreaterOrEqual(mautrix.SpecV11) {
		t.Errorf("versions = %v, want at least v1.1", versions.Versions)
	}

	reg, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: "alice", Password: "wonderland"})
	if err != nil {
		t.Fatalf("RegisterDummy: %v", err)
	}
	if reg.UserID != "@alice:hafen.test" || reg.AccessToken == "" {
		t.Fatalf("register = %+v", reg)
	}

	login, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:             mautrix.AuthTypePassword,
		Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "alice"},
		Password:         "wonderland",
		DeviceID:         "MAUTRIX",
		StoreCredentials: true,
	})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if login.DeviceID != "MAUTRIX" {
		t.Errorf("device_id = %q, want MAUTRIX", login.DeviceID)
	}
	who, err := cli.Whoami(ctx)
	if err != nil {
		t.Fatalf("Whoami: %v", err)
	}
	if who.UserID != id.UserID("@alice:hafen.test") || who.DeviceID != "MAUTRIX" {
		t.Errorf("whoami = %+v", who)
	}
	if _, err := cli.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := cli.Whoami(ctx); !errors.Is(err, mautrix.MUnknownToken) {
		t.Errorf("Whoami after logout = %v, want M_UNKNOWN_TOKEN", err)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	for _, want := range []string{"hafen started", "client=127.0.0.1:", "federation=127.0.0.1:", "hafen stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	for _, f := range []string{"hafen.yaml", "signing.key", "tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("first run did not create %s: %v", f, err)
		}
	}

	// A second start reuses the signing key and the config file, and the
	// account is still there.
	key1, _ := os.ReadFile(filepath.Join(dataDir, "signing.key"))
	base, _, _ = startServe(t, dataDir)
	key2, _ := os.ReadFile(filepath.Join(dataDir, "signing.key"))
	if !bytes.Equal(key1, key2) {
		t.Error("the signing key changed between runs")
	}
	cli, _ = mautrix.NewClient(base, "", "")
	if _, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "@alice:hafen.test"},
		Password:   "wonderland",
	}); err != nil {
		t.Errorf("Login after restart: %v", err)
	}
	// Registration is off by default.
	if _, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: "bob", Password: "x"}); !errors.Is(err, mautrix.MForbidden) {
		t.Errorf("RegisterDummy with registration off = %v, want M_FORBIDDEN", err)
	}
}

func TestUserCommands(t *testing.T) {
	dataDir := t.TempDir()
	env := func(k string) (string, bool) {
		if k == "HAFEN_DATA_DIR" {
			return dataDir, true
		}
		if k == "HAFEN_SERVER_NAME" {
			return "hafen.test", true
		}
		return "", false
	}
	var out, errOut bytes.Buffer
	ctx := t.Context()
	if err := run(ctx, []string{"user", "create", "admin", "--admin"}, env, strings.NewReader("s3cret\n"), &out, &errOut); err != nil {
		t.Fatalf("user create: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "@admin:hafen.test") {
		t.Errorf("output = %q", out.String())
	}
	if err := run(ctx, []string{"user", "create", "admin", "--password", "x"}, env, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "M_USER_IN_USE") {
		t.Errorf("duplicate create = %v, want M_USER_IN_USE", err)
	}
	if err := run(ctx, []string{"user", "create", "Bad!"}, env, strings.NewReader("x\n"), &out, &errOut); err == nil {
		t.Error("invalid localpart accepted")
	}
	if err := run(ctx, []string{"user", "create", "nopw"}, env, strings.NewReader(""), &out, &errOut); err == nil {
		t.Error("empty password accepted")
	}
	if err := run(ctx, []string{"user", "reset-password", "admin", "--password", "new"}, env, nil, &out, &errOut); err != nil {
		t.Errorf("reset-password: %v", err)
	}
	if err := run(ctx, []string{"user", "reset-password", "ghost", "--password", "new"}, env, nil, &out, &errOut); err == nil {
		t.Error("reset-password of an unknown user succeeded")
	}
	if err := run(ctx, []string{"user", "create", "bob", "--password", "pw"}, env, nil, &out, &errOut); err != nil {
		t.Fatalf("user create bob: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"user", "list"}, env, nil, &out, &errOut); err != nil {
		t.Fatalf("user list: %v", err)
	}
	if got, want := out.String(), "@admin:hafen.test admin\n@bob:hafen.test\n"; got != want {
		t.Errorf("user list = %q, want %q", got, want)
	}

	base, _, _ := startServe(t, dataDir)
	cli, _ := mautrix.NewClient(base, "", "")
	if _, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type: mautrix.AuthTypePassword, Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "admin"}, Password: "new",
	}); err != nil {
		t.Errorf("login with the reset password: %v", err)
	}

	out.Reset()
	if err := run(ctx, []string{"version"}, env, nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "hafen ") {
		t.Errorf("version = %q, %v", out.String(), err)
	}
	if err := run(ctx, []string{"bogus"}, env, nil, &out, &errOut); err == nil {
		t.Error("unknown command accepted")
	}
}
