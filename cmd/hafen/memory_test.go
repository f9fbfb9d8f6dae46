package main

import (
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/config"
)

// TestServeAppliesMemoryLimit checks that serve sets the Go runtime's soft
// memory limit from memory_limit while it runs, raises it for connections
// beyond those it covers, and puts the previous limit back when it stops.
func TestServeAppliesMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	addr := freeAddr(t)
	stop := serveUntilStopped(t, filepath.Join(t.TempDir(), "data"), addr, "--memory-limit", "96MiB")
	if got := debug.SetMemoryLimit(-1); got != 96<<20 {
		t.Errorf("memory limit while serving = %d, want %d", got, 96<<20)
	}
	// Connections beyond those the limit covers raise it.
	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	defer closeAll()
	for len(conns) <= connsInLimit+1 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for deadline := time.Now().Add(10 * time.Second); debug.SetMemoryLimit(-1) <= 96<<20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the memory limit did not move with %d connections open", len(conns))
		}
	}
	if got := debug.SetMemoryLimit(-1); got > 96<<20+2*connMemory || (got-96<<20)%connMemory != 0 {
		t.Errorf("memory limit with %d connections open = %d, want 96 MiB plus one or two times %d", len(conns), got, connMemory)
	}
	// Shutdown waits for connections that never sent a request.
	closeAll()
	stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("memory limit after serve stopped = %d, want the previous %d", got, before)
	}
}

// TestMemoryLimitFollowsConnections checks the bookkeeping of connState:
// each open connection beyond connsInLimit adds connMemory, a closed or hijacked one takes it
// back, other state changes leave the limit alone, and after restore (or
// with memory_limit off) the limit is never touched.
func TestMemoryLimitFollowsConnections(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const base = 64 << 20
	m, err := applyMemoryLimit(config.Config{MemoryLimit: "64MiB"})
	if err != nil {
		t.Fatal(err)
	}
	// The first connsInLimit connections are within the limit.
	for range connsInLimit {
		m.connState(nil, http.StateNew)
	}
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("limit with %d connections = %d, want %d", connsInLimit, got, base)
	}
	steps := []struct {
		state http.ConnState
		want  int64
	}{
		{http.StateNew, base + connMemory},
		{http.StateNew, base + 2*connMemory},
		{http.StateActive, base + 2*connMemory},
		{http.StateIdle, base + 2*connMemory},
		{http.StateNew, base + 3*connMemory},
		{http.StateClosed, base + 2*connMemory},
		{http.StateHijacked, base + connMemory},
		{http.StateClosed, base},
		{http.StateClosed, base},
	}
	for i, s := range steps {
		m.connState(nil, s.state)
		if got := debug.SetMemoryLimit(-1); got != s.want {
			t.Fatalf("step %d (%v): limit = %d, want %d", i, s.state, got, s.want)
		}
	}
	m.restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit after restore = %d, want the previous %d", got, before)
	}
	m.connState(nil, http.StateNew)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("a connection after restore moved the limit to %d", got)
	}

	off, err := applyMemoryLimit(config.Config{MemoryLimit: "off"})
	if err != nil {
		t.Fatal(err)
	}
	off.connState(nil, http.StateNew)
	off.restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("memory_limit off moved the limit to %d", got)
	}
}
