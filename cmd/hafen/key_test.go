package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// serveUntilStopped runs `hafen serve` named after addr (its federation
// listener) in dataDir and returns a function that stops it and waits.
func serveUntilStopped(t *testing.T, dataDir, addr string, extra ...string) func() {
	t.Helper()
	_, stop := serveFederating(t, dataDir, addr, extra...)
	return stop
}

// serveFederating runs `hafen serve` named after addr (its federation
// listener) in dataDir and returns its logs and a function that stops it
// and waits; the test's cleanup stops it too, if it still runs.
func serveFederating(t *testing.T, dataDir, addr string, extra ...string) (*syncBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	ready := make(chan struct{})
	errc := make(chan error, 1)
	args := append([]string{"--data-dir", dataDir, "--server-name", addr,
		"--listen-client", "127.0.0.1:0", "--listen-federation", addr}, extra...)
	go func() {
		errc <- serve(ctx, args, func(string) (string, bool) { return "", false }, logs, func(started) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("serve failed to start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", logs.String())
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("serve did not stop")
		}
	}
	t.Cleanup(stop)
	return logs, stop
}

// ownKeys fetches the server's key response and checks its signatures.
func ownKeys(t *testing.T, addr string) signing.ServerKeys {
	t.Helper()
	var raw json.RawMessage
	if st := getFederationJSON(t, "https://"+addr+"/_matrix/key/v2/server", &raw); st != 200 {
		t.Fatalf("GET key/v2/server = %d", st)
	}
	keys, err := signing.ParseKeyResponse(raw, id.ServerName(addr), time.Now().UnixMilli())
	if err != nil {
		t.Fatalf("key response: %v", err)
	}
	return keys
}

// TestKeyRotate checks `hafen key rotate`: refused while the server runs;
// on a stopped server it replaces the signing key, and the restarted
// server signs with the new key and publishes the old one under
// old_verify_keys with the time it expired; a rotation interrupted before
// its new key file was moved in place is finished by the next start.
func TestKeyRotate(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			extra := dbArgs(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			addr := freeAddr(t)
			rotate := func() (string, error) {
				var out, errOut bytes.Buffer
				args := append([]string{"key", "rotate", "--data-dir", dataDir, "--server-name", addr}, extra...)
				err := run(t.Context(), args, func(string) (string, bool) { return "", false }, strings.NewReader(""), &out, &errOut)
				return out.String() + errOut.String(), err
			}

			stop := serveUntilStopped(t, dataDir, addr, extra...)
			before := ownKeys(t, addr)
			if len(before.Keys) != 1 {
				t.Fatalf("keys before the rotation: %v", before.Keys)
			}
			var oldID signing.KeyID
			var oldKey signing.VerifyKey
			for k, v := range before.Keys {
				oldID, oldKey = k, v
			}
			if out, err := rotate(); err == nil {
				t.Fatalf("key rotate while the server runs succeeded: %s", out)
			}
			stop()

			start := time.Now().UnixMilli()
			out, err := rotate()
			if err != nil {
				t.Fatalf("key rotate: %v\n%s", err, out)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "signing.key."+strings.ReplaceAll(string(oldID), ":", "_")+".old")); err != nil {
				t.Errorf("old key file not kept: %v", err)
			}

			stop = serveUntilStopped(t, dataDir, addr, extra...)
			after := ownKeys(t, addr)
			var current []signing.KeyID
			for k, v := range after.Keys {
				if v.ExpiredTS == 0 {
					current = append(current, k)
				}
			}
			if len(current) != 1 || current[0] == oldID {
				t.Fatalf("verify_keys after the rotation = %v, want one new key (old %s)", current, oldID)
			}
			if !strings.Contains(out, string(current[0])) {
				t.Errorf("key rotate said %q, want it to name the new key %s", out, current[0])
			}
			old, ok := after.Keys[oldID]
			if !ok || old.ExpiredTS < start || !bytes.Equal(old.Public, oldKey.Public) {
				t.Fatalf("old_verify_keys[%s] = %+v (present %v), want the old public key expired at the rotation", oldID, old, ok)
			}

			// A rotation interrupted after its database commit, before the
			// new key file was moved in place, is finished by the next start.
			stop()
			path := filepath.Join(dataDir, "signing.key")
			backup := path + "." + strings.ReplaceAll(string(oldID), ":", "_") + ".old"
			if err := os.Rename(path, path+".new"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(backup, path); err != nil {
				t.Fatal(err)
			}
			serveUntilStopped(t, dataDir, addr, extra...)
			if again := ownKeys(t, addr); again.Keys[current[0]].ExpiredTS != 0 || again.Keys[oldID].ExpiredTS == 0 {
				t.Errorf("after an interrupted rotation the server publishes %+v, want %s current and %s old", again.Keys, current[0], oldID)
			}
			if _, err := os.Stat(path + ".new"); err == nil {
				t.Errorf("signing.key.new left behind")
			}
		})
	}
}

// TestKeyRotateHelp checks that `hafen key rotate --help` explains the
// command and shows only its own flags.
func TestKeyRotateHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"key", "rotate", "--help"}, func(string) (string, bool) { return "", false }, strings.NewReader(""), &out, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("key rotate --help: %v", err)
	}
	help := out.String()
	if !strings.Contains(help, "usage: hafen key rotate") || !strings.Contains(help, "old_verify_keys") || !strings.Contains(help, "-data-dir") {
		t.Errorf("help:\n%s", help)
	}
	if strings.Contains(help, "-listen-client") {
		t.Errorf("help lists serve's flags:\n%s", help)
	}
}
