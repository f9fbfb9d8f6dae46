// Package dendritetest runs a Dendrite homeserver as a subprocess on
// loopback, for interoperability tests and benchmarks: SQLite databases
// in a temporary directory, a server name with an explicit port (its
// federation listener), its own self-signed TLS certificate, certificate
// checks of other servers turned off (`disable_tls_validation`) and open
// registration. The binaries come from
// `go install github.com/matrix-org/dendrite/cmd/{dendrite,generate-keys,generate-config}@v0.13.8`.
package dendritetest

import (
	"bytes"
	"context"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hafenchat/hafen/internal/testnet"
)

// Version is the Dendrite release the tests are written against.
const Version = "v0.13.8"

// Server is a running Dendrite.
type Server struct {
	// Name is the server name, "127.0.0.1:port" of its federation
	// (HTTPS) listener.
	Name string
	// ClientURL is the base URL of its client API (plain HTTP).
	ClientURL string
	// Dir holds its configuration, keys and databases.
	Dir string
	// Cmd is the process.
	Cmd *exec.Cmd

	logs *logBuffer
}

// Logs returns what Dendrite has written to stdout and stderr so far.
func (s *Server) Logs() string { return s.logs.String() }

// binary finds one of Dendrite's commands: on PATH, else in GOPATH/bin
// (where `go install` puts it).
func binary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		if p := filepath.Join(gobin, name); isFile(p) {
			return p
		}
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", name)
		if isFile(p) {
			return p
		}
	}
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Installed reports whether dendrite, generate-keys and generate-config
// are installed.
func Installed() bool {
	return binary("dendrite") != "" && binary("generate-keys") != "" && binary("generate-config") != ""
}

// Require returns the paths of dendrite, generate-keys and
// generate-config, and skips the test when they are not installed.
func Require(t testing.TB) (dendrite, keys, config string) {
	t.Helper()
	dendrite, keys, config = binary("dendrite"), binary("generate-keys"), binary("generate-config")
	if dendrite == "" || keys == "" || config == "" {
		t.Skipf("Dendrite %s is not installed (go install github.com/matrix-org/dendrite/cmd/{dendrite,generate-keys,generate-config}@%s); skipping the interoperability test", Version, Version)
	}
	return dendrite, keys, config
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(testnet.FreeAddr(t))
	return port
}

// Start runs a fresh Dendrite and waits until its client API answers. It
// is stopped when the test ends. Missing binaries skip the test.
func Start(t testing.TB) *Server {
	t.Helper()
	dendrite, genKeys, genConfig := Require(t)
	dir := t.TempDir()
	fedPort, clientPort := freePort(t), freePort(t)
	name := "127.0.0.1:" + fedPort

	run := func(bin string, args ...string) []byte {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
		}
		return out
	}
	run(genKeys, "-private-key", "matrix_key.pem", "-tls-cert", "server.crt", "-tls-key", "server.key", "-keysize", "2048")
	raw := run(genConfig, "-ci", "-server", name, "-dir", dir)
	cfg, err := adaptConfig(raw, dir)
	if err != nil {
		t.Fatalf("adapt Dendrite's configuration: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dendrite.yaml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &logBuffer{}
	cmd := exec.Command(dendrite,
		"-config", "dendrite.yaml",
		"-really-enable-open-registration",
		"-http-bind-address", "127.0.0.1:"+clientPort,
		"-https-bind-address", name,
		"-tls-cert", "server.crt", "-tls-key", "server.key")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dendrite: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s := &Server{Name: name, ClientURL: "http://127.0.0.1:" + clientPort, Dir: dir, Cmd: cmd, logs: logs}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || os.Getenv("HAFEN_TEST_DENDRITE_LOGS") != "" {
			t.Logf("dendrite %s logs:\n%s", name, tail(logs.String(), 200))
		}
	})

	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("dendrite exited on start:\n%s", logs.String())
		default:
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.ClientURL+"/_matrix/client/versions", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dendrite did not start:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// adaptConfig turns generate-config's CI configuration into the test's:
// other servers' certificates are not checked (theirs are self-signed
// too), logs go to stderr at info level and no MSCs are enabled.
func adaptConfig(raw []byte, dir string) ([]byte, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	section := func(name string) (map[string]any, error) {
		m, ok := cfg[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no %s section", name)
		}
		return m, nil
	}
	fed, err := section("federation_api")
	if err != nil {
		return nil, err
	}
	fed["disable_tls_validation"] = true
	fed["key_perspectives"] = []any{}
	fed["send_max_retries"] = 32
	cs, err := section("client_api")
	if err != nil {
		return nil, err
	}
	cs["registration_disabled"] = false
	if rl, ok := cs["rate_limiting"].(map[string]any); ok {
		rl["enabled"] = false
	}
	mscs, err := section("mscs")
	if err != nil {
		return nil, err
	}
	mscs["mscs"] = []any{}
	cfg["logging"] = []any{map[string]any{"type": "std", "level": "info"}}
	if g, err := section("global"); err == nil {
		g["private_key"] = filepath.Join(dir, "matrix_key.pem")
	}
	return yaml.Marshal(cfg)
}

// logBuffer collects the process's output, bounded to its last 4 MiB.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 {
		keep := l.b.Bytes()[l.b.Len()-2<<20:]
		l.b = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
